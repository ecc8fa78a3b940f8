package deploy

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// ciClusterImages are the images overlays/ci-cluster runs: the project's,
// and the stand-ins of compose/standins that scripts/cluster-e2e.sh builds
// and loads into containerd under these names.
var ciClusterImages = map[string]string{
	"Deployment mp3converter/gateway":      "mp3converter/mp3converter:ci-cluster",
	"Deployment mp3converter/auth":         "mp3converter/mp3converter:ci-cluster",
	"Deployment mp3converter/converter":    "mp3converter/mp3converter:ci-cluster",
	"Deployment mp3converter/notification": "mp3converter/mp3converter:ci-cluster",
	"Deployment mp3converter/mailpit":      "mp3converter-standin/mailpit:v1.33.1",
	"StatefulSet mp3converter/mysql":       "mp3converter-standin/mariadb:bookworm",
	"StatefulSet mp3converter/rabbitmq":    "mp3converter-standin/rabbitmq:bookworm",
	"StatefulSet mp3converter/mongodb":     "mp3converter-standin/mongo:ferretdb-v1.24.2",
}

// TestCICluster checks that overlays/ci-cluster is overlays/minikube with
// only what its comment lists changed: the images, imagePullPolicy Never,
// no mongod or mysqld args for the stand-ins, a TCP readiness probe for
// FerretDB (no mongosh), and Mailpit added. Every other object and field is
// minikube's, and it fits a 2-CPU node as minikube's does.
func TestCICluster(t *testing.T) {
	root := copyDeploy(t)
	mk := render(t, filepath.Join(root, "overlays", "minikube"))
	ci := render(t, filepath.Join(root, "overlays", "ci-cluster"))

	var names []string
	for _, w := range ci.workloads() {
		names = append(names, w.String())
		c := &w.pod.Spec.Containers[0]
		if want := ciClusterImages[w.String()]; c.Image != want {
			t.Errorf("%s: image %q, want %q", w, c.Image, want)
		}
		for _, c := range slices.Concat(w.pod.Spec.InitContainers, w.pod.Spec.Containers) {
			if c.ImagePullPolicy != corev1.PullNever {
				t.Errorf("%s container %s: imagePullPolicy %q, want Never (no registry)", w, c.Name, c.ImagePullPolicy)
			}
		}
	}
	if len(names) != len(ciClusterImages) {
		t.Errorf("workloads %v, want those of ciClusterImages", names)
	}

	// Undo the listed changes on a copy of each ci-cluster workload: what
	// is left must equal minikube's.
	for _, w := range mk.workloads() {
		var got *corev1.PodTemplateSpec
		for _, c := range ci.workloads() {
			if c.String() == w.String() {
				got = c.pod.DeepCopy()
			}
		}
		if got == nil {
			t.Errorf("%s: missing from ci-cluster", w)
			continue
		}
		c, want := &got.Spec.Containers[0], &w.pod.Spec.Containers[0]
		c.Image, c.ImagePullPolicy = want.Image, want.ImagePullPolicy
		switch w.name {
		case "mysql":
			if len(c.Args) != 0 {
				t.Errorf("%s: args %q: the stand-in's command is its entrypoint script; want none", w, c.Args)
			}
			c.Args = want.Args
		case "mongodb":
			if len(c.Args) != 0 {
				t.Errorf("%s: args %q: FerretDB takes no mongod options; want none", w, c.Args)
			}
			if p := c.ReadinessProbe; p == nil || p.TCPSocket == nil {
				t.Errorf("%s: readinessProbe %+v, want a tcpSocket (no mongosh in the stand-in)", w, p)
			}
			c.Args, c.ReadinessProbe = want.Args, want.ReadinessProbe
		}
		if !reflect.DeepEqual(got, w.pod) {
			a, _ := json.Marshal(w.pod)
			b, _ := json.Marshal(got)
			t.Errorf("%s: differs from minikube's beyond the listed changes:\nminikube:   %s\nci-cluster: %s", w, a, b)
		}
	}

	checkSameObjects(t, mk, ci)

	lines := nodeBudget(ci)
	if msg, ok := fits(minikubeNode, lines); !ok {
		t.Errorf("ci-cluster does not fit a 2-CPU, 2 GiB node:\n%s", msg)
	}
}

// checkSameObjects: every object of ci-cluster but its workloads is
// minikube's, unchanged, plus Mailpit's Service.
func checkSameObjects(t *testing.T, mk, ci *manifests) {
	for kind, pair := range map[string][2]any{
		"Service": {mk.services, ci.services}, "Secret": {mk.secrets, ci.secrets},
		"ConfigMap": {mk.configMaps, ci.configMaps}, "Ingress": {mk.ingresses, ci.ingresses},
		"NetworkPolicy": {mk.policies, ci.policies}, "Namespace": {mk.namespaces, ci.namespaces},
	} {
		a, b := reflect.ValueOf(pair[0]), reflect.ValueOf(pair[1])
		for _, k := range b.MapKeys() {
			if kind == "Service" && k.String() == key(namespace, "mailpit") {
				continue
			}
			if !a.MapIndex(k).IsValid() {
				t.Errorf("%s %s: added by ci-cluster", kind, k)
			} else if !reflect.DeepEqual(a.MapIndex(k).Interface(), b.MapIndex(k).Interface()) {
				t.Errorf("%s %s: differs from minikube's", kind, k)
			}
		}
		if a.Len() != b.Len()-map[bool]int{true: 1}[kind == "Service"] {
			t.Errorf("%ss: minikube has %d, ci-cluster %d", kind, a.Len(), b.Len())
		}
	}
	if ci.services[key(namespace, "mailpit")] == nil {
		t.Errorf("no Service %s: the notification role sends to smtp://mailpit:1025", key(namespace, "mailpit"))
	}

}
