package notification

// Compose is compose, for the external tests.
var Compose = compose
