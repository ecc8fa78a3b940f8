// Package deploy holds the Kubernetes manifests; its test renders and checks them.
package deploy
