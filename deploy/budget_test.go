package deploy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// node is a node's capacity and what the kubelet keeps back from it: pods
// are scheduled on the difference, its allocatable resources.
type node struct {
	cpu, memory                 resource.Quantity
	reservedCPU, reservedMemory resource.Quantity
}

// minikubeNode is the node `minikube start` makes by default: 2 CPUs and
// 2 GiB. The reservation is our assumption: minikube configures no
// kube-reserved or system-reserved, and the kubelet's default hard eviction
// threshold (memory.available<100Mi) is the most it keeps back; we reserve
// 100m CPU and 256Mi to stay clear of it with room to spare.
var minikubeNode = node{
	cpu:            resource.MustParse("2"),
	memory:         resource.MustParse("2Gi"),
	reservedCPU:    resource.MustParse("100m"),
	reservedMemory: resource.MustParse("256Mi"),
}

// usage is what some pods request: pods times the requests of one.
type usage struct {
	what        string
	pods        int64
	cpu, memory resource.Quantity
}

func use(what string, pods int64, cpu, memory string) usage {
	return usage{what, pods, resource.MustParse(cpu), resource.MustParse(memory)}
}

// minikubeSystem are the pods on a minikube node that request resources,
// with the ingress addon on, about 850m CPU and 260Mi. kube-proxy,
// storage-provisioner and the addon's admission jobs request none.
var minikubeSystem = []usage{
	use("kube-system/kube-apiserver", 1, "250m", "0"),
	use("kube-system/kube-controller-manager", 1, "200m", "0"),
	use("kube-system/kube-scheduler", 1, "100m", "0"),
	use("kube-system/etcd", 1, "100m", "100Mi"),
	use("kube-system/coredns", 1, "100m", "70Mi"),
	use("ingress-nginx/ingress-nginx-controller", 1, "100m", "90Mi"),
}

// TestMinikubeFits adds up the requests of everything the minikube overlay
// runs, the largest rollout's extra pods and minikube's own pods, and checks
// they fit the default minikube node.
func TestMinikubeFits(t *testing.T) {
	m := render(t, filepath.Join(copyDeploy(t), "overlays", "minikube"))
	lines := append(slices.Clone(minikubeSystem), nodeBudget(m)...)
	if msg, ok := fits(minikubeNode, lines); !ok {
		t.Errorf("the minikube overlay does not fit a default minikube node:\n%s", msg)
	} else {
		t.Logf("the minikube overlay fits a default minikube node:\n%s", msg)
	}
}

// TestNodeBudgetRejectsBase checks the budget can fail: the base, sized for
// a real cluster, does not fit one minikube node.
func TestNodeBudgetRejectsBase(t *testing.T) {
	lines := append(slices.Clone(minikubeSystem), nodeBudget(render(t, "base"))...)
	msg, ok := fits(minikubeNode, lines)
	if ok {
		t.Errorf("the base fits a default minikube node; the budget check is too lax:\n%s", msg)
	} else {
		t.Logf("the base does not fit a default minikube node, as it should not:\n%s", msg)
	}
}

// nodeBudget returns the requests of every workload's pods, and of the
// extra pods each Deployment starts during a rollout: one kubectl apply of
// a new image tag rolls them all at once.
func nodeBudget(m *manifests) []usage {
	var lines, surges []usage
	for _, w := range m.workloads() {
		cpu, mem := podRequest(&w.pod.Spec, corev1.ResourceCPU), podRequest(&w.pod.Spec, corev1.ResourceMemory)
		replicas := int64(1) // the default, and KEDA's minimum here
		switch w.kind {
		case "Deployment":
			d := m.deployments[key(w.ns, w.name)]
			if d.Spec.Replicas != nil {
				replicas = int64(*d.Spec.Replicas)
			}
			if extra := surgePods(d, replicas); extra > 0 {
				surges = append(surges, usage{"rollout surge of " + w.String(), extra, cpu, mem})
			}
		case "StatefulSet":
			// Rolled one pod at a time, deleted before it is recreated.
			if s := m.statefulSets[key(w.ns, w.name)]; s.Spec.Replicas != nil {
				replicas = int64(*s.Spec.Replicas)
			}
		}
		lines = append(lines, usage{w.String(), replicas, cpu, mem})
	}
	return append(lines, surges...)
}

// surgePods is how many pods a rollout of d starts beyond its replicas.
func surgePods(d *appsv1.Deployment, replicas int64) int64 {
	s := d.Spec.Strategy
	if s.Type == appsv1.RecreateDeploymentStrategyType {
		return 0
	}
	maxSurge := intstr.FromString("25%") // the default
	if s.RollingUpdate != nil && s.RollingUpdate.MaxSurge != nil {
		maxSurge = *s.RollingUpdate.MaxSurge
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&maxSurge, int(replicas), true)
	if err != nil {
		return replicas
	}
	// The new ReplicaSet never has more than replicas pods.
	return min(int64(n), replicas)
}

// podRequest is what the scheduler reserves for a pod, as Kubernetes
// computes it: the regular containers and the sidecars (restartable init
// containers) together, or the largest other init container with the
// sidecars started before it, whichever is more; plus the pod overhead.
func podRequest(spec *corev1.PodSpec, name corev1.ResourceName) resource.Quantity {
	var regular, sidecars, initMax resource.Quantity
	for _, c := range spec.Containers {
		regular.Add(c.Resources.Requests[name])
	}
	for _, c := range spec.InitContainers {
		req := c.Resources.Requests[name]
		cur := sidecars.DeepCopy()
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.Add(req)
			cur = sidecars.DeepCopy()
		} else {
			cur.Add(req)
		}
		if cur.Cmp(initMax) > 0 {
			initMax = cur
		}
	}
	regular.Add(sidecars)
	if initMax.Cmp(regular) > 0 {
		regular = initMax
	}
	regular.Add(spec.Overhead[name])
	return regular
}

// fits adds up lines against n's allocatable resources; it returns the
// table and whether both CPU and memory fit.
func fits(n node, lines []usage) (string, bool) {
	var b strings.Builder
	var cpu, mem resource.Quantity
	for _, l := range lines {
		c, m := mul(l.cpu, l.pods), mul(l.memory, l.pods)
		cpu.Add(c)
		mem.Add(m)
		fmt.Fprintf(&b, "  %-55s %2d x %5s %6s = %6s %7s\n", l.what, l.pods, l.cpu.String(), l.memory.String(), milli(c), mebi(m))
	}
	allocCPU, allocMem := n.cpu.DeepCopy(), n.memory.DeepCopy()
	allocCPU.Sub(n.reservedCPU)
	allocMem.Sub(n.reservedMemory)
	fmt.Fprintf(&b, "  %-55s %22s %6s %7s\n", "total requests", "", milli(cpu), mebi(mem))
	fmt.Fprintf(&b, "  %-55s %22s %6s %7s\n", fmt.Sprintf("allocatable (%s, %s less %s, %s reserved)", n.cpu.String(), n.memory.String(), n.reservedCPU.String(), n.reservedMemory.String()), "", milli(allocCPU), mebi(allocMem))
	return b.String(), cpu.Cmp(allocCPU) <= 0 && mem.Cmp(allocMem) <= 0
}

func mul(q resource.Quantity, n int64) resource.Quantity {
	return *resource.NewMilliQuantity(q.MilliValue()*n, q.Format)
}

func milli(q resource.Quantity) string { return fmt.Sprintf("%dm", q.MilliValue()) }

func mebi(q resource.Quantity) string { return fmt.Sprintf("%dMi", q.Value()>>20) }
