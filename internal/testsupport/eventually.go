package testsupport

import (
	"testing"
	"time"
)

// Eventually calls cond until it returns true, or fails the test
// (Fatalf, naming what) once timeout has passed. It polls often at first,
// so that a condition about to hold is seen at once, then every 100 ms, so
// that a long wait does not hammer what cond asks (an HTTP API, a
// database). Call it from the test's goroutine; cond may call t.Fatal.
//
// It is for waiting on a condition. A test that lets time pass on
// purpose (a TTL to run out, a moment in which nothing must happen)
// sleeps, and says why.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	const maxInterval = 100 * time.Millisecond
	deadline := time.Now().Add(timeout)
	for interval := time.Millisecond; !cond(); interval = min(2*interval, maxInterval) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(interval)
	}
}
