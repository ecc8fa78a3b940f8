package deploy

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const (
	namespace   = "mp3converter"
	partOf      = "app.kubernetes.io/part-of"
	nameLabel   = "app.kubernetes.io/name"
	roleImage   = "mp3converter/mp3converter:1.0.0"
	appUID      = 10001
	placeholder = "CHANGE-ME"
)

// role is what one role's Deployment must provide.
type role struct {
	name     string
	replicas int32
	// addr is the setting holding the address the probes reach.
	addr  string
	needs []string
}

var roles = []role{
	{"gateway", 2, "MP3CONVERTER_ADDR", []string{"MP3CONVERTER_ADDR", "MP3CONVERTER_DRAIN_DELAY", "MP3CONVERTER_TRUSTED_PROXIES", "AUTH_SVC_ADDRESS", "JWT_SECRET", "MP3CONVERTER_DATABASE_URL", "MP3CONVERTER_QUEUE_URL", "MP3CONVERTER_STORAGE_URL", "VIDEO_QUEUE", "MP3CONVERTER_SHUTDOWN_GRACE"}},
	{"auth", 2, "MP3CONVERTER_ADDR", []string{"MP3CONVERTER_ADDR", "MP3CONVERTER_DRAIN_DELAY", "MP3CONVERTER_TRUSTED_PROXIES", "JWT_SECRET", "MP3CONVERTER_DATABASE_URL", "MP3CONVERTER_SHUTDOWN_GRACE"}},
	{"converter", 4, "MP3CONVERTER_HEALTH_ADDR", []string{"MP3CONVERTER_HEALTH_ADDR", "MP3CONVERTER_DATABASE_URL", "MP3CONVERTER_QUEUE_URL", "MP3CONVERTER_STORAGE_URL", "VIDEO_QUEUE", "MP3_QUEUE", "MP3CONVERTER_SHUTDOWN_GRACE"}},
	{"notification", 2, "MP3CONVERTER_HEALTH_ADDR", []string{"MP3CONVERTER_HEALTH_ADDR", "MP3CONVERTER_DATABASE_URL", "MP3CONVERTER_QUEUE_URL", "MP3CONVERTER_STORAGE_URL", "MP3CONVERTER_SMTP_URL", "MP3_QUEUE", "MP3CONVERTER_SHUTDOWN_GRACE"}},
}

// secretSettings must come from a Secret, never a ConfigMap or a literal.
var secretSettings = []string{"JWT_SECRET", "MP3CONVERTER_DATABASE_URL", "MP3CONVERTER_QUEUE_URL", "MP3CONVERTER_SMTP_URL"}

// mayBeEmpty are settings a role needs set, but to which empty means
// something: no SMTP server, notices go to the log (minikube's choice).
var mayBeEmpty = map[string]bool{"MP3CONVERTER_SMTP_URL": true}

// exactSettings must have these values wherever they are set.
var exactSettings = map[string]string{"VIDEO_QUEUE": "video", "MP3_QUEUE": "mp3"}

// serviceURLs maps each setting whose URL names an in-cluster Service (its
// host and port) to the schemes the URL may have. An s3:// URL names its
// bucket where others name the host: the Service is its endpoint's.
var serviceURLs = map[string][]string{
	"MP3CONVERTER_DATABASE_URL": {"mysql"},
	"MP3CONVERTER_QUEUE_URL":    {"amqp"},
	"MP3CONVERTER_STORAGE_URL":  {"mongodb", "s3"},
}

var ingressAnnotations = map[string]string{
	"nginx.ingress.kubernetes.io/proxy-body-size":         "0",
	"nginx.ingress.kubernetes.io/proxy-read-timeout":      "600",
	"nginx.ingress.kubernetes.io/proxy-send-timeout":      "600",
	"nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
}

// manifests is the rendered kustomization, decoded into typed objects and
// indexed by kind and "namespace/name".
type manifests struct {
	objects      []object
	namespaces   map[string]*corev1.Namespace
	deployments  map[string]*appsv1.Deployment
	statefulSets map[string]*appsv1.StatefulSet
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	ingresses    map[string]*networkingv1.Ingress
	claims       map[string]*corev1.PersistentVolumeClaim
	policies     map[string]*networkingv1.NetworkPolicy
	// The custom resources of deploy/components (crd_test.go).
	scaledObjects   map[string]*scaledObject
	triggerAuths    map[string]*triggerAuthentication
	serviceMonitors map[string]*serviceMonitor
	// want is what differs between the base and each overlay
	// (overlays_test.go).
	want expect
}

// object is any rendered object, for the checks that apply to all kinds.
type object struct {
	kind string
	meta *metav1.ObjectMeta
}

func (o object) String() string { return o.kind + " " + key(o.meta.Namespace, o.meta.Name) }

func key(ns, name string) string { return ns + "/" + name }

// render runs kustomize on dir and decodes every object strictly into its
// k8s.io/api type: an unknown kind or field fails the test.
func render(t testing.TB, dir string) *manifests {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	m := &manifests{
		namespaces:   map[string]*corev1.Namespace{},
		deployments:  map[string]*appsv1.Deployment{},
		statefulSets: map[string]*appsv1.StatefulSet{},
		services:     map[string]*corev1.Service{},
		configMaps:   map[string]*corev1.ConfigMap{},
		secrets:      map[string]*corev1.Secret{},
		ingresses:    map[string]*networkingv1.Ingress{},
		claims:       map[string]*corev1.PersistentVolumeClaim{},
		policies:     map[string]*networkingv1.NetworkPolicy{},

		scaledObjects:   map[string]*scaledObject{},
		triggerAuths:    map[string]*triggerAuthentication{},
		serviceMonitors: map[string]*serviceMonitor{},
		want:            baseExpect,
	}
	for _, res := range rm.Resources() {
		data, err := res.MarshalJSON()
		if err != nil {
			t.Fatalf("%s %s: marshal: %v", res.GetKind(), res.GetName(), err)
		}
		gvk := res.GetApiVersion() + " " + res.GetKind()
		switch gvk {
		case "v1 Namespace":
			err = add(m, m.namespaces, res.GetKind(), data, func(o *corev1.Namespace) *metav1.ObjectMeta { return &o.ObjectMeta })
		case "apps/v1 Deployment":
			err = add(m, m.deployments, res.GetKind(), data, func(o *appsv1.Deployment) *metav1.ObjectMeta { return &o.ObjectMeta })
		case "apps/v1 StatefulSet":
			err = add(m, m.statefulSets, res.GetKind(), data, func(o *appsv1.StatefulSet) *metav1.ObjectMeta { return &o.ObjectMeta })
		case "v1 Service":
			err = add(m, m.services, res.GetKind(), data, func(o *corev1.Service) *metav1.ObjectMeta { return &o.ObjectMeta })
		case "v1 ConfigMap":
			err = add(m, m.configMaps, res.GetKind(), data, func(o *corev1.ConfigMap) *metav1.ObjectMeta { return &o.ObjectMeta })
		case "v1 Secret":
			err = add(m, m.secrets, res.GetKind(), data, func(o *corev1.Secret) *metav1.ObjectMeta { return &o.ObjectMeta })
		case "networking.k8s.io/v1 Ingress":
			err = add(m, m.ingresses, res.GetKind(), data, func(o *networkingv1.Ingress) *metav1.ObjectMeta { return &o.ObjectMeta })
		case "networking.k8s.io/v1 NetworkPolicy":
			err = add(m, m.policies, res.GetKind(), data, func(o *networkingv1.NetworkPolicy) *metav1.ObjectMeta { return &o.ObjectMeta })
		case "v1 PersistentVolumeClaim":
			err = add(m, m.claims, res.GetKind(), data, func(o *corev1.PersistentVolumeClaim) *metav1.ObjectMeta { return &o.ObjectMeta })
		case "keda.sh/v1alpha1 ScaledObject":
			err = add(m, m.scaledObjects, res.GetKind(), data, func(o *scaledObject) *metav1.ObjectMeta { return &o.ObjectMeta })
		case "keda.sh/v1alpha1 TriggerAuthentication":
			err = add(m, m.triggerAuths, res.GetKind(), data, func(o *triggerAuthentication) *metav1.ObjectMeta { return &o.ObjectMeta })
		case "monitoring.coreos.com/v1 ServiceMonitor":
			err = add(m, m.serviceMonitors, res.GetKind(), data, func(o *serviceMonitor) *metav1.ObjectMeta { return &o.ObjectMeta })
		default:
			t.Fatalf("%s %s: unknown kind %q: add it to render in deploy_test.go", res.GetKind(), res.GetName(), gvk)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", res.GetKind(), res.GetName(), err)
		}
	}
	return m
}

// add decodes data strictly into a new T and indexes it.
func add[T any](m *manifests, index map[string]*T, kind string, data []byte, meta func(*T) *metav1.ObjectMeta) error {
	v, err := decodeStrict[T](data)
	if err != nil {
		return err
	}
	md := meta(v)
	k := key(md.Namespace, md.Name)
	if _, dup := index[k]; dup {
		return fmt.Errorf("rendered twice")
	}
	index[k] = v
	m.objects = append(m.objects, object{kind, md})
	return nil
}

// decodeStrict decodes data into a T, failing on fields T does not have.
// encoding/json matches names case-insensitively, which the API server does
// not, so the case-sensitive decoder Kubernetes itself uses checks again.
func decodeStrict[T any](data []byte) (*T, error) {
	v := new(T)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, fmt.Errorf("decode as %T: %w", *v, err)
	}
	strict, err := k8sjson.UnmarshalStrict(data, new(T))
	if err == nil && len(strict) > 0 {
		err = errors.Join(strict...)
	}
	if err != nil {
		return nil, fmt.Errorf("decode as %T (case-sensitive): %w", *v, err)
	}
	return v, nil
}

// workload is a Deployment or a StatefulSet.
type workload struct {
	kind, ns, name string
	selector       *metav1.LabelSelector
	pod            *corev1.PodTemplateSpec
	claims         []corev1.PersistentVolumeClaim // a StatefulSet's volumeClaimTemplates
}

func (w workload) String() string { return w.kind + " " + key(w.ns, w.name) }

func (m *manifests) workloads() []workload {
	var ws []workload
	for _, k := range sortedKeys(m.deployments) {
		d := m.deployments[k]
		ws = append(ws, workload{"Deployment", d.Namespace, d.Name, d.Spec.Selector, &d.Spec.Template, nil})
	}
	for _, k := range sortedKeys(m.statefulSets) {
		s := m.statefulSets[k]
		ws = append(ws, workload{"StatefulSet", s.Namespace, s.Name, s.Spec.Selector, &s.Spec.Template, s.Spec.VolumeClaimTemplates})
	}
	return ws
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// setting is one environment variable of a container and where it came from.
type setting struct {
	value string
	kind  string // "ConfigMap", "Secret" or "" for a literal value
	name  string // the ConfigMap or Secret
	key   string // its key
}

func (s setting) source() string {
	if s == (setting{}) {
		return "nothing"
	}
	if s.kind == "" {
		return "a literal value"
	}
	return fmt.Sprintf("%s %s key %s", s.kind, s.name, s.key)
}

// env merges a container's environment as the kubelet does: envFrom in order,
// then env. References to missing objects or keys are left out here; the
// references check reports them.
func (m *manifests) env(ns string, c *corev1.Container) map[string]setting {
	out := map[string]setting{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			if cm := m.configMaps[key(ns, from.ConfigMapRef.Name)]; cm != nil {
				for k, v := range cm.Data {
					out[from.Prefix+k] = setting{v, "ConfigMap", cm.Name, k}
				}
			}
		case from.SecretRef != nil:
			if s := m.secrets[key(ns, from.SecretRef.Name)]; s != nil {
				for k, v := range secretData(s) {
					out[from.Prefix+k] = setting{v, "Secret", s.Name, k}
				}
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = setting{value: e.Value}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			r := e.ValueFrom.ConfigMapKeyRef
			if cm := m.configMaps[key(ns, r.Name)]; cm != nil {
				if v, ok := cm.Data[r.Key]; ok {
					out[e.Name] = setting{v, "ConfigMap", r.Name, r.Key}
				}
			}
		case e.ValueFrom.SecretKeyRef != nil:
			r := e.ValueFrom.SecretKeyRef
			if s := m.secrets[key(ns, r.Name)]; s != nil {
				if v, ok := secretData(s)[r.Key]; ok {
					out[e.Name] = setting{v, "Secret", r.Name, r.Key}
				}
			}
		}
	}
	return out
}

// secretData merges a Secret's data and stringData as the API server does.
func secretData(s *corev1.Secret) map[string]string {
	out := map[string]string{}
	for k, v := range s.Data {
		out[k] = string(v)
	}
	for k, v := range s.StringData {
		out[k] = v
	}
	return out
}

// containerPort resolves a probe's or Service's target port against a
// container's declared ports; ok is false if the container does not declare it.
func containerPort(c *corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func probePort(p *corev1.Probe) (intstr.IntOrString, bool) {
	switch {
	case p.HTTPGet != nil:
		return p.HTTPGet.Port, true
	case p.TCPSocket != nil:
		return p.TCPSocket.Port, true
	case p.GRPC != nil:
		return intstr.FromInt32(p.GRPC.Port), true
	}
	return intstr.IntOrString{}, false
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// selected returns the workloads in ns whose pods svc selects.
func (m *manifests) selected(svc *corev1.Service) []workload {
	var ws []workload
	for _, w := range m.workloads() {
		if w.ns == svc.Namespace && selects(svc.Spec.Selector, w.pod.Labels) {
			ws = append(ws, w)
		}
	}
	return ws
}

// servicePort finds svc's port by number or name.
func servicePort(svc *corev1.Service, number int32, name string) (corev1.ServicePort, bool) {
	for _, p := range svc.Spec.Ports {
		if name != "" && p.Name == name || name == "" && p.Port == number {
			return p, true
		}
	}
	return corev1.ServicePort{}, false
}

// TestManifests renders deploy/base as kubectl kustomize would and checks the
// objects against each other and against what the roles need.
func TestManifests(t *testing.T) {
	runChecks(t, render(t, "base"))
}

// checks are what every rendering must pass, the base's and each
// overlay's (TestOverlays).
var checks = []struct {
	name  string
	check func(*testing.T, *manifests)
}{
	{"Namespace", checkNamespace},
	{"Labels", checkLabels},
	{"Roles", checkRoles},
	{"Containers", checkContainers},
	{"Images", checkImages},
	{"References", checkReferences},
	{"Services", checkServices},
	{"RoleSettings", checkRoleSettings},
	{"Secrets", checkSecrets},
	{"Ingress", checkIngress},
	{"RabbitMQ", checkRabbitMQ},
	{"TrustedProxies", checkTrustedProxies},
	{"KEDA", checkKEDA},
	{"Monitoring", checkMonitoring},
}

func runChecks(t *testing.T, m *manifests) {
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.check(t, m) })
	}
}

// checkTrustedProxies: a role that believes X-Forwarded-For from the pod
// network accepts connections only from its proxy: the gateway from the
// ingress controller's namespace, auth from the gateways; and, where
// ServiceMonitors are rendered, from Prometheus (isPrometheus).
func checkTrustedProxies(t *testing.T, m *manifests) {
	for role, wantFrom := range map[string]func(networkingv1.NetworkPolicyPeer) bool{
		"gateway": func(p networkingv1.NetworkPolicyPeer) bool {
			return p.PodSelector == nil && p.IPBlock == nil && p.NamespaceSelector != nil &&
				p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "ingress-nginx"
		},
		"auth": func(p networkingv1.NetworkPolicyPeer) bool {
			return p.NamespaceSelector == nil && p.IPBlock == nil && p.PodSelector != nil &&
				p.PodSelector.MatchLabels["app.kubernetes.io/name"] == "gateway"
		},
	} {
		var found bool
		for _, np := range m.policies {
			if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] != role {
				continue
			}
			found = true
			for _, rule := range np.Spec.Ingress {
				if len(rule.From) == 0 {
					t.Errorf("NetworkPolicy %s lets every source reach %s", np.Name, role)
				}
				for _, from := range rule.From {
					if !wantFrom(from) && !(len(m.serviceMonitors) > 0 && isPrometheus(from)) {
						t.Errorf("NetworkPolicy %s lets %+v reach %s", np.Name, from, role)
					}
				}
			}
		}
		if !found {
			t.Errorf("no NetworkPolicy limits who reaches %s, which trusts X-Forwarded-For", role)
		}
	}
}

func checkNamespace(t *testing.T, m *manifests) {
	if m.namespaces[key("", namespace)] == nil {
		t.Errorf("no Namespace %s rendered", namespace)
	}
	for _, o := range m.objects {
		if o.kind != "Namespace" && o.meta.Namespace != namespace {
			t.Errorf("%s: namespace %q, want %q", o, o.meta.Namespace, namespace)
		}
	}
}

func checkLabels(t *testing.T, m *manifests) {
	for _, o := range m.objects {
		if o.meta.Labels[partOf] != "mp3converter" {
			t.Errorf("%s: label %s=%q, want mp3converter", o, partOf, o.meta.Labels[partOf])
		}
	}
	for _, w := range m.workloads() {
		labels := w.pod.Labels
		if labels[partOf] != "mp3converter" || labels[nameLabel] == "" {
			t.Errorf("%s: pod labels %v, want %s=mp3converter and %s", w, labels, partOf, nameLabel)
		}
		if w.selector == nil || len(w.selector.MatchExpressions) > 0 || !selects(w.selector.MatchLabels, labels) {
			t.Errorf("%s: selector %v does not select its pod labels %v (use matchLabels only)", w, w.selector, labels)
		}
	}
}

func checkRoles(t *testing.T, m *manifests) {
	for _, r := range roles {
		d := m.deployments[key(namespace, r.name)]
		if d == nil {
			t.Errorf("no Deployment %s for role %s", key(namespace, r.name), r.name)
			continue
		}
		what := "Deployment " + key(namespace, r.name)
		checkReplicas(t, m, d, r)
		if got := d.Spec.Template.Labels[nameLabel]; got != r.name {
			t.Errorf("%s: pod label %s=%q, want %q", what, nameLabel, got, r.name)
		}
		cs := d.Spec.Template.Spec.Containers
		if len(cs) != 1 {
			t.Errorf("%s: %d containers, want 1", what, len(cs))
			continue
		}
		c := &cs[0]
		if !slices.Equal(c.Args, []string{r.name}) {
			t.Errorf("%s: args %q, want [%q]", what, c.Args, r.name)
		}
		if len(c.Command) > 0 {
			t.Errorf("%s: command %q overrides the image's ENTRYPOINT", what, c.Command)
		}
		if want := cmp.Or(m.want.image, roleImage); c.Image != want {
			t.Errorf("%s: image %q, want %q (set by images: in kustomization.yaml)", what, c.Image, want)
		}
		checkRoleSecurity(t, what, &d.Spec.Template.Spec, c)
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.EmptyDir != nil && v.EmptyDir.SizeLimit == nil {
				t.Errorf("%s: emptyDir volume %s has no sizeLimit", what, v.Name)
			}
		}
	}
	if d := m.deployments[key(namespace, "converter")]; d != nil {
		s := d.Spec.Strategy
		if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil || s.RollingUpdate.MaxSurge == nil || *s.RollingUpdate.MaxSurge != intstr.FromInt32(8) {
			t.Errorf("Deployment %s: strategy %+v, want RollingUpdate with maxSurge 8", key(namespace, "converter"), s)
		}
	}
}

// checkRoleSecurity checks the effective security context of a role
// container: its own settings, else the pod's.
func checkRoleSecurity(t *testing.T, what string, pod *corev1.PodSpec, c *corev1.Container) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s container %s: no securityContext", what, c.Name)
		return
	}
	nonRoot := first(sc.RunAsNonRoot, psc.RunAsNonRoot)
	user := first(sc.RunAsUser, psc.RunAsUser)
	group := first(sc.RunAsGroup, psc.RunAsGroup)
	seccomp := first(sc.SeccompProfile, psc.SeccompProfile)
	if nonRoot == nil || !*nonRoot {
		t.Errorf("%s container %s: runAsNonRoot is not true", what, c.Name)
	}
	if user == nil || *user != appUID || group == nil || *group != appUID {
		t.Errorf("%s container %s: runAsUser %s runAsGroup %s, want %d and %d", what, c.Name, ptrString(user), ptrString(group), appUID, appUID)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s container %s: readOnlyRootFilesystem is not true", what, c.Name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s container %s: allowPrivilegeEscalation is not false", what, c.Name)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s container %s: privileged", what, c.Name)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s container %s: capabilities %+v, want drop [ALL] and nothing added", what, c.Name, sc.Capabilities)
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s container %s: seccompProfile %+v, want RuntimeDefault", what, c.Name, seccomp)
	}
}

// first returns the first non-nil pointer.
func first[T any](ps ...*T) *T {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

func checkContainers(t *testing.T, m *manifests) {
	for _, w := range m.workloads() {
		spec := &w.pod.Spec
		if len(spec.Containers) == 0 {
			t.Errorf("%s: no containers", w)
		}
		for i := range spec.Containers {
			c := &spec.Containers[i]
			what := fmt.Sprintf("%s container %s", w, c.Name)
			if c.LivenessProbe == nil {
				t.Errorf("%s: no livenessProbe", what)
			}
			if c.ReadinessProbe == nil {
				t.Errorf("%s: no readinessProbe", what)
			}
			for name, p := range map[string]*corev1.Probe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe, "startupProbe": c.StartupProbe} {
				if p == nil {
					continue
				}
				port, ok := probePort(p)
				if ok {
					if _, declared := containerPort(c, port); !declared {
						t.Errorf("%s: %s port %s is not a declared container port", what, name, port.String())
					}
				} else if p.Exec == nil || len(p.Exec.Command) == 0 {
					t.Errorf("%s: %s has no handler", what, name)
				}
			}
			checkResources(t, what, c.Resources)
		}
		for i := range spec.InitContainers {
			c := &spec.InitContainers[i]
			checkResources(t, fmt.Sprintf("%s init container %s", w, c.Name), c.Resources)
		}
	}
}

func checkResources(t *testing.T, what string, r corev1.ResourceRequirements) {
	t.Helper()
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := r.Requests[name]
		lim, hasLim := r.Limits[name]
		if !hasReq || !hasLim {
			t.Errorf("%s: resources %s: request %s, limit %s; want both", what, name, quantity(req, hasReq), quantity(lim, hasLim))
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("%s: resources %s: request %s above limit %s", what, name, req.String(), lim.String())
		}
	}
}

func quantity(q resource.Quantity, ok bool) string {
	if !ok {
		return "unset"
	}
	return q.String()
}

func checkImages(t *testing.T, m *manifests) {
	for _, w := range m.workloads() {
		for _, c := range slices.Concat(w.pod.Spec.InitContainers, w.pod.Spec.Containers) {
			if tag := imageTag(c.Image); tag == "" || tag == "latest" {
				t.Errorf("%s container %s: image %q has no explicit tag other than latest", w, c.Name, c.Image)
			}
		}
	}
}

// imageTag returns the tag of an image reference such as
// registry:5000/name:tag@sha256:…, or "" if it has none.
func imageTag(image string) string {
	image, _, _ = strings.Cut(image, "@")
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon <= slash {
		return ""
	}
	return image[colon+1:]
}

func checkReferences(t *testing.T, m *manifests) {
	for _, w := range m.workloads() {
		volumes := checkVolumeRefs(t, m, w)
		for _, c := range slices.Concat(w.pod.Spec.InitContainers, w.pod.Spec.Containers) {
			checkContainerRefs(t, m, w, &c, volumes)
		}
	}
	checkStatefulSetServices(t, m)
	checkIngressBackends(t, m)
}

// checkVolumeRefs checks that w's volumes name rendered ConfigMaps, Secrets
// and claims, and returns the names its containers may mount.
func checkVolumeRefs(t *testing.T, m *manifests, w workload) map[string]bool {
	volumes := map[string]bool{}
	for _, v := range w.pod.Spec.Volumes {
		volumes[v.Name] = true
		switch {
		case v.ConfigMap != nil:
			if m.configMaps[key(w.ns, v.ConfigMap.Name)] == nil {
				t.Errorf("%s: volume %s: no ConfigMap %s", w, v.Name, v.ConfigMap.Name)
			}
		case v.Secret != nil:
			if m.secrets[key(w.ns, v.Secret.SecretName)] == nil {
				t.Errorf("%s: volume %s: no Secret %s", w, v.Name, v.Secret.SecretName)
			}
		case v.PersistentVolumeClaim != nil:
			if m.claims[key(w.ns, v.PersistentVolumeClaim.ClaimName)] == nil {
				t.Errorf("%s: volume %s: no PersistentVolumeClaim %s", w, v.Name, v.PersistentVolumeClaim.ClaimName)
			}
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.ConfigMap != nil && m.configMaps[key(w.ns, src.ConfigMap.Name)] == nil {
					t.Errorf("%s: volume %s: no ConfigMap %s", w, v.Name, src.ConfigMap.Name)
				}
				if src.Secret != nil && m.secrets[key(w.ns, src.Secret.Name)] == nil {
					t.Errorf("%s: volume %s: no Secret %s", w, v.Name, src.Secret.Name)
				}
			}
		}
	}
	for _, pvc := range w.claims {
		volumes[pvc.Name] = true
	}
	return volumes
}

// checkContainerRefs checks that c, a container of w, mounts only volumes
// and reads settings only from ConfigMaps, Secrets and keys that exist.
func checkContainerRefs(t *testing.T, m *manifests, w workload, c *corev1.Container, volumes map[string]bool) {
	what := fmt.Sprintf("%s container %s", w, c.Name)
	for _, vm := range c.VolumeMounts {
		if !volumes[vm.Name] {
			t.Errorf("%s: volumeMount %s at %s: no such volume or volumeClaimTemplate", what, vm.Name, vm.MountPath)
		}
	}
	for _, from := range c.EnvFrom {
		if r := from.ConfigMapRef; r != nil && m.configMaps[key(w.ns, r.Name)] == nil {
			t.Errorf("%s: envFrom configMapRef %q: no such ConfigMap in namespace %s", what, r.Name, w.ns)
		}
		if r := from.SecretRef; r != nil && m.secrets[key(w.ns, r.Name)] == nil {
			t.Errorf("%s: envFrom secretRef %q: no such Secret in namespace %s", what, r.Name, w.ns)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
			cm := m.configMaps[key(w.ns, r.Name)]
			if cm == nil {
				t.Errorf("%s: env %s: configMapKeyRef %q: no such ConfigMap in namespace %s", what, e.Name, r.Name, w.ns)
			} else if _, ok := cm.Data[r.Key]; !ok {
				t.Errorf("%s: env %s: ConfigMap %s has no key %q", what, e.Name, r.Name, r.Key)
			}
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil {
			s := m.secrets[key(w.ns, r.Name)]
			if s == nil {
				t.Errorf("%s: env %s: secretKeyRef %q: no such Secret in namespace %s", what, e.Name, r.Name, w.ns)
			} else if _, ok := secretData(s)[r.Key]; !ok {
				t.Errorf("%s: env %s: Secret %s has no key %q", what, e.Name, r.Name, r.Key)
			}
		}
	}
}

// checkStatefulSetServices checks that each StatefulSet's serviceName is a
// headless Service selecting its pods.
func checkStatefulSetServices(t *testing.T, m *manifests) {
	for _, k := range sortedKeys(m.statefulSets) {
		s := m.statefulSets[k]
		svc := m.services[key(s.Namespace, s.Spec.ServiceName)]
		switch {
		case svc == nil:
			t.Errorf("StatefulSet %s: serviceName %q: no such Service in namespace %s", k, s.Spec.ServiceName, s.Namespace)
		case svc.Spec.ClusterIP != corev1.ClusterIPNone:
			t.Errorf("StatefulSet %s: serviceName %q: Service is not headless (clusterIP: None)", k, s.Spec.ServiceName)
		case !selects(svc.Spec.Selector, s.Spec.Template.Labels):
			t.Errorf("StatefulSet %s: serviceName %q: Service does not select its pods", k, s.Spec.ServiceName)
		}
	}
}

// checkIngressBackends checks that every Ingress backend is a rendered
// Service and one of its ports.
func checkIngressBackends(t *testing.T, m *manifests) {
	for _, k := range sortedKeys(m.ingresses) {
		ing := m.ingresses[k]
		var backends []*networkingv1.IngressServiceBackend
		if b := ing.Spec.DefaultBackend; b != nil {
			backends = append(backends, b.Service)
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				backends = append(backends, p.Backend.Service)
			}
		}
		for _, b := range backends {
			if b == nil {
				t.Errorf("Ingress %s: a backend without a Service", k)
				continue
			}
			svc := m.services[key(ing.Namespace, b.Name)]
			if svc == nil {
				t.Errorf("Ingress %s: backend Service %q: no such Service in namespace %s", k, b.Name, ing.Namespace)
			} else if _, ok := servicePort(svc, b.Port.Number, b.Port.Name); !ok {
				t.Errorf("Ingress %s: backend Service %s has no port %d%s", k, b.Name, b.Port.Number, b.Port.Name)
			}
		}
	}
}

func checkServices(t *testing.T, m *manifests) {
	for _, k := range sortedKeys(m.services) {
		svc := m.services[k]
		ws := m.selected(svc)
		if len(ws) == 0 {
			t.Errorf("Service %s: selector %v matches the pods of no Deployment or StatefulSet", k, svc.Spec.Selector)
			continue
		}
		if len(svc.Spec.Ports) == 0 {
			t.Errorf("Service %s: no ports", k)
		}
		for _, p := range svc.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port)
			}
			for _, w := range ws {
				found := false
				for i := range w.pod.Spec.Containers {
					if _, ok := containerPort(&w.pod.Spec.Containers[i], target); ok {
						found = true
					}
				}
				if !found {
					t.Errorf("Service %s port %d: targetPort %s is not a container port of %s", k, p.Port, target.String(), w)
				}
			}
		}
	}
}

func checkRoleSettings(t *testing.T, m *manifests) {
	jwt := map[string]setting{}
	for _, r := range roles {
		d := m.deployments[key(namespace, r.name)]
		if d == nil || len(d.Spec.Template.Spec.Containers) == 0 {
			continue // reported by checkRoles
		}
		c := &d.Spec.Template.Spec.Containers[0]
		env := m.env(d.Namespace, c)
		what := "Deployment " + key(namespace, r.name)
		checkRoleEnv(t, what, r, env)
		if s, ok := env["JWT_SECRET"]; ok {
			jwt[r.name] = s
		}
		checkRoleProbes(t, what, r, c, env)
		checkRoleServiceURLs(t, m, what, env)
		checkRoleShutdown(t, what, d, env)
		checkRoleTempDir(t, what, r, c, env)
	}
	if g, a := jwt["gateway"], jwt["auth"]; g.kind != "Secret" || g != a {
		t.Errorf("JWT_SECRET: gateway reads %s, auth reads %s; want the same Secret and key", g.source(), a.source())
	}
}

// checkRoleEnv checks that a role's settings are all set, secrets come from
// a Secret and the fixed ones have their values.
func checkRoleEnv(t *testing.T, what string, r role, env map[string]setting) {
	for _, name := range r.needs {
		s, ok := env[name]
		if !ok || s.value == "" && !mayBeEmpty[name] {
			t.Errorf("%s: %s is not set (from its ConfigMap, Secret or env)", what, name)
		}
	}
	for _, name := range secretSettings {
		if s, ok := env[name]; ok && s.kind != "Secret" {
			t.Errorf("%s: %s comes from %s, want a Secret", what, name, s.source())
		}
	}
	for _, name := range sortedKeys(exactSettings) {
		if s, ok := env[name]; ok && s.value != exactSettings[name] {
			t.Errorf("%s: %s=%q (from %s), want %q", what, name, s.value, s.source(), exactSettings[name])
		}
	}
}

// checkRoleProbes checks that the probes reach the port the role listens on.
func checkRoleProbes(t *testing.T, what string, r role, c *corev1.Container, env map[string]setting) {
	if addr := env[r.addr].value; addr != "" {
		_, port, err := net.SplitHostPort(addr)
		n, err2 := strconv.Atoi(port)
		if err != nil || err2 != nil {
			t.Errorf("%s: %s=%q is not host:port", what, r.addr, addr)
		} else {
			if _, ok := containerPort(c, intstr.FromInt(n)); !ok {
				t.Errorf("%s: %s=%q but the container declares no port %d", what, r.addr, addr, n)
			}
			for _, pr := range []struct {
				name, path string
				probe      *corev1.Probe
			}{{"livenessProbe", "/healthz", c.LivenessProbe}, {"readinessProbe", "/readyz", c.ReadinessProbe}} {
				if pr.probe == nil || pr.probe.HTTPGet == nil {
					t.Errorf("%s: %s is not an httpGet probe", what, pr.name)
					continue
				}
				if got := pr.probe.HTTPGet.Path; got != pr.path {
					t.Errorf("%s: %s path %q, want %q", what, pr.name, got, pr.path)
				}
				if got, _ := containerPort(c, pr.probe.HTTPGet.Port); got != int32(n) {
					t.Errorf("%s: %s reaches port %s, but %s=%q", what, pr.name, pr.probe.HTTPGet.Port.String(), r.addr, addr)
				}
			}
		}
	}
}

// checkRoleServiceURLs checks that settings naming in-cluster Services name
// rendered ones.
func checkRoleServiceURLs(t *testing.T, m *manifests, what string, env map[string]setting) {
	for _, name := range sortedKeys(serviceURLs) {
		schemes := serviceURLs[name]
		s, ok := env[name]
		if !ok || s.value == "" {
			continue
		}
		u, err := url.Parse(s.value)
		if err == nil && u.Scheme == "s3" {
			u, err = url.Parse(u.Query().Get("endpoint"))
			if err == nil && u.Scheme != "http" && u.Scheme != "https" {
				err = fmt.Errorf("endpoint %q is not an http(s) URL", u)
			}
		} else if err == nil && !slices.Contains(schemes, u.Scheme) {
			err = fmt.Errorf("scheme %q", u.Scheme)
		}
		if err != nil || u.Port() == "" {
			t.Errorf("%s: %s from %s is not a %s:// URL with a host and port (%v)", what, name, s.source(), strings.Join(schemes, ":// or "), err)
			continue
		}
		checkServiceAddr(t, m, what, name, u.Host, "")
	}
	if addr := env["AUTH_SVC_ADDRESS"].value; addr != "" {
		checkServiceAddr(t, m, what, "AUTH_SVC_ADDRESS", addr, "auth")
	}
}

// checkRoleShutdown checks that the drain delay (readiness fails, requests
// still served) and then in-flight work's grace both pass before the
// kubelet kills.
func checkRoleShutdown(t *testing.T, what string, d *appsv1.Deployment, env map[string]setting) {
	if s := env["MP3CONVERTER_SHUTDOWN_GRACE"]; s.value != "" {
		grace, err := time.ParseDuration(s.value)
		if d := env["MP3CONVERTER_DRAIN_DELAY"].value; d != "" && err == nil {
			var drain time.Duration
			drain, err = time.ParseDuration(d)
			grace += drain
		}
		tgps := d.Spec.Template.Spec.TerminationGracePeriodSeconds
		switch {
		case err != nil:
			t.Errorf("%s: MP3CONVERTER_SHUTDOWN_GRACE=%q: %v", what, s.value, err)
		case tgps == nil:
			t.Errorf("%s: no terminationGracePeriodSeconds (the default 30s may cut MP3CONVERTER_SHUTDOWN_GRACE=%s short)", what, s.value)
		case time.Duration(*tgps)*time.Second <= grace:
			t.Errorf("%s: terminationGracePeriodSeconds %d is not greater than MP3CONVERTER_DRAIN_DELAY plus MP3CONVERTER_SHUTDOWN_GRACE (%v)", what, *tgps, grace)
		}
	}
}

// checkRoleTempDir checks that a temp dir on a read-only root is a mounted
// volume; the converter writes media there (default /tmp).
func checkRoleTempDir(t *testing.T, what string, r role, c *corev1.Container, env map[string]setting) {
	dir := env["MP3CONVERTER_TEMP_DIR"].value
	if dir == "" && r.name == "converter" {
		dir = "/tmp"
	}
	if dir != "" {
		if !slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.MountPath == dir && !vm.ReadOnly }) {
			t.Errorf("%s: MP3CONVERTER_TEMP_DIR=%q is not a writable volume mount", what, dir)
		}
	}
}

// checkServiceAddr checks that hostport names a Service in the namespace and
// one of its ports, and, if role is set, that the Service selects that role's
// Deployment.
func checkServiceAddr(t *testing.T, m *manifests, what, setting, hostport, role string) {
	t.Helper()
	host, port, err := net.SplitHostPort(hostport)
	n, err2 := strconv.Atoi(port)
	if err != nil || err2 != nil {
		t.Errorf("%s: %s: %q is not host:port", what, setting, hostport)
		return
	}
	name, ns, _ := strings.Cut(host, ".")
	if ns != "" && ns != namespace && !strings.HasPrefix(ns, namespace+".") {
		t.Errorf("%s: %s: host %q is not in namespace %s", what, setting, host, namespace)
		return
	}
	svc := m.services[key(namespace, name)]
	if svc == nil {
		t.Errorf("%s: %s: host %q: no such Service in namespace %s", what, setting, host, namespace)
		return
	}
	if _, ok := servicePort(svc, int32(n), ""); !ok {
		t.Errorf("%s: %s: Service %s has no port %d", what, setting, name, n)
	}
	if role != "" && !slices.ContainsFunc(m.selected(svc), func(w workload) bool { return w.kind == "Deployment" && w.name == role }) {
		t.Errorf("%s: %s: Service %s does not select the %s Deployment's pods", what, setting, name, role)
	}
}

// checkSecrets keeps real secrets out of the repository: every password in
// a Secret of the base is the placeholder, which the JWT check in the binary
// refuses. Overlays whose Secrets come from files outside the repository
// (m.want.placeholders false) are checked by checkSecretPairs only.
func checkSecrets(t *testing.T, m *manifests) {
	checkSecretPairs(t, m)
	if !m.want.placeholders {
		return
	}
	for _, k := range sortedKeys(m.secrets) {
		for name, v := range secretData(m.secrets[k]) {
			upper := strings.ToUpper(name)
			if strings.Contains(upper, "PASS") || strings.Contains(upper, "SECRET") {
				if v != placeholder {
					t.Errorf("Secret %s key %s: want the placeholder %q, not a value", k, name, placeholder)
				}
			}
			if u, err := url.Parse(v); err == nil && u.User != nil {
				if p, ok := u.User.Password(); ok && p != placeholder {
					t.Errorf("Secret %s key %s: the URL's password must be the placeholder %q", k, name, placeholder)
				}
			}
		}
	}
}

func checkIngress(t *testing.T, m *manifests) {
	ing, path := m.ingressFor("mp3converter.com")
	if ing == nil {
		t.Fatalf("no Ingress rule for host mp3converter.com")
	}
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
		t.Errorf("Ingress %s: ingressClassName %s, want nginx", ing.Name, ptrString(ing.Spec.IngressClassName))
	}
	for k, want := range ingressAnnotations {
		if got, ok := ing.Annotations[k]; !ok || got != want {
			t.Errorf("Ingress %s: annotation %s=%q, want %q", ing.Name, k, got, want)
		}
	}
	m.checkBackend(t, ing, path, "gateway", 8080, "gateway")

	ing, path = m.ingressFor("rabbitmq-manager.com")
	if ing == nil {
		t.Fatalf("no Ingress rule for host rabbitmq-manager.com")
	}
	m.checkBackend(t, ing, path, "rabbitmq", 15672, "rabbitmq")
}

// ingressFor returns the Ingress and its path "/" for host.
func (m *manifests) ingressFor(host string) (*networkingv1.Ingress, *networkingv1.HTTPIngressPath) {
	for _, k := range sortedKeys(m.ingresses) {
		ing := m.ingresses[k]
		for _, rule := range ing.Spec.Rules {
			if rule.Host != host || rule.HTTP == nil {
				continue
			}
			for i, p := range rule.HTTP.Paths {
				if p.Path == "/" {
					return ing, &rule.HTTP.Paths[i]
				}
			}
		}
	}
	return nil, nil
}

// checkBackend checks that path routes to port of Service svc, and that the
// Service sends it to the pods of the workload named target.
func (m *manifests) checkBackend(t *testing.T, ing *networkingv1.Ingress, path *networkingv1.HTTPIngressPath, svcName string, port int32, target string) {
	t.Helper()
	b := path.Backend.Service
	if b == nil || b.Name != svcName {
		t.Errorf("Ingress %s: path / goes to %+v, want Service %s", ing.Name, b, svcName)
		return
	}
	svc := m.services[key(ing.Namespace, b.Name)]
	if svc == nil {
		return // reported by checkReferences
	}
	p, ok := servicePort(svc, b.Port.Number, b.Port.Name)
	if !ok || p.Port != port {
		t.Errorf("Ingress %s: backend port %+v of Service %s, want %d", ing.Name, b.Port, svcName, port)
	}
	if !slices.ContainsFunc(m.selected(svc), func(w workload) bool { return w.name == target }) {
		t.Errorf("Ingress %s: Service %s does not select the pods of %s", ing.Name, svcName, target)
	}
}

func checkRabbitMQ(t *testing.T, m *manifests) {
	s := m.statefulSets[key(namespace, "rabbitmq")]
	if s == nil {
		t.Fatalf("no StatefulSet %s", key(namespace, "rabbitmq"))
	}
	want := resource.MustParse("1Gi")
	var claim string
	for _, pvc := range s.Spec.VolumeClaimTemplates {
		if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok && q.Cmp(want) == 0 {
			claim = pvc.Name
		}
	}
	if claim == "" {
		t.Fatalf("StatefulSet rabbitmq: no volumeClaimTemplate requesting 1Gi of storage")
	}
	for _, c := range s.Spec.Template.Spec.Containers {
		for _, vm := range c.VolumeMounts {
			if vm.Name == claim && vm.MountPath == "/var/lib/rabbitmq" {
				return
			}
		}
	}
	t.Errorf("StatefulSet rabbitmq: volumeClaimTemplate %s is not mounted at /var/lib/rabbitmq", claim)
}

// instruction is one Dockerfile instruction, continuations joined.
type instruction struct {
	line int // where it starts
	cmd  string
	args string
}

// stage is one FROM and the instructions after it.
type stage struct {
	image, name string
	index       int
	body        []instruction
}

// parseDockerfile splits a Dockerfile into stages. It knows what these
// checks need: comments, `\` continuations, FROM … AS name.
func parseDockerfile(text string) ([]*stage, error) {
	var stages []*stage
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || trimmed == "" {
			continue // comments and blank lines, also inside a continuation
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		in := instruction{start, strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			var words []string
			for _, w := range strings.Fields(in.args) {
				if !strings.HasPrefix(w, "--") {
					words = append(words, w)
				}
			}
			st := &stage{index: len(stages)}
			switch {
			case len(words) == 1:
				st.image = words[0]
			case len(words) == 3 && strings.EqualFold(words[1], "AS"):
				st.image, st.name = words[0], words[2]
			default:
				return nil, fmt.Errorf("line %d: FROM %s: want FROM image [AS name]", in.line, in.args)
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" {
				continue
			}
			return nil, fmt.Errorf("line %d: %s before the first FROM", in.line, in.cmd)
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("the last instruction ends in a continuation")
	}
	return stages, nil
}

// flags splits leading --name=value flags off an instruction's arguments.
func flags(args string) (map[string]string, []string) {
	fl := map[string]string{}
	words := strings.Fields(args)
	for len(words) > 0 && strings.HasPrefix(words[0], "--") {
		k, v, _ := strings.Cut(strings.TrimPrefix(words[0], "--"), "=")
		fl[k] = v
		words = words[1:]
	}
	return fl, words
}

// TestDockerfile checks the image build: a build stage, a runtime stage with
// ffmpeg running the copied binary as a numeric non-root user, pinned bases.
func TestDockerfile(t *testing.T) {
	stages, names := readDockerfile(t)
	final := stages[len(stages)-1]
	checkDockerfileRuntime(t, final, names)
	build, built := checkDockerfileBinary(t, final, names)
	checkDockerfileBuild(t, build, built)
	checkDockerfileExpose(t, final)

	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Fields(string(ignore)), ".git") {
		t.Errorf(".dockerignore does not exclude .git")
	}
}

// readDockerfile parses ../Dockerfile, checks it has a build and a runtime
// stage on pinned bases, and returns its stages and them by name and index.
func readDockerfile(t *testing.T) ([]*stage, map[string]*stage) {
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages, err := parseDockerfile(string(data))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d FROM stages, want a build stage and a runtime stage", len(stages))
	}
	names := map[string]*stage{}
	for _, st := range stages {
		if names[st.image] == nil && st.image != "scratch" {
			if tag := imageTag(st.image); tag == "" || tag == "latest" {
				t.Errorf("Dockerfile: FROM %s: want an explicit tag other than latest", st.image)
			}
		}
		if st.name != "" {
			names[st.name] = st
		}
		names[strconv.Itoa(st.index)] = st
	}
	return stages, names
}

// checkDockerfileRuntime checks the final stage has ffmpeg and runs as a
// numeric non-root user.
func checkDockerfileRuntime(t *testing.T, final *stage, names map[string]*stage) {
	// ffmpeg is where the binary runs: installed from packages in the final
	// stage, or copied from a stage that installs or builds it.
	if !slices.ContainsFunc(final.body, func(in instruction) bool {
		if in.cmd == "RUN" && strings.Contains(in.args, "apt-get install") && slices.Contains(strings.Fields(in.args), "ffmpeg") {
			return true
		}
		fl, _ := flags(in.args)
		from := names[fl["from"]]
		return in.cmd == "COPY" && from != nil && from != final && slices.ContainsFunc(from.body, func(in instruction) bool {
			return in.cmd == "RUN" && strings.Contains(in.args, "ffmpeg")
		})
	}) {
		t.Errorf("Dockerfile: the final stage neither apt-get installs ffmpeg nor copies it from a stage that makes it")
	}

	// It runs as a numeric non-root user, so runAsNonRoot can verify it.
	var user string
	for _, in := range final.body {
		if in.cmd == "USER" {
			user = in.args
		}
	}
	for _, id := range strings.Split(user, ":") {
		if n, err := strconv.Atoi(id); err != nil || n == 0 {
			t.Errorf("Dockerfile: final USER %q: want numeric, non-zero uid[:gid]", user)
			break
		}
	}
}

// checkDockerfileBinary checks the binary is copied from a build stage and
// is the exec-form ENTRYPOINT. It returns the build stage and the path the
// binary is copied from.
func checkDockerfileBinary(t *testing.T, final *stage, names map[string]*stage) (*stage, string) {
	var bin, built string
	var build *stage
	for _, in := range final.body {
		if in.cmd != "COPY" {
			continue
		}
		fl, words := flags(in.args)
		if from := names[fl["from"]]; from != nil && from != final && len(words) == 2 && strings.HasSuffix(words[0], "/mp3converter") {
			build, built, bin = from, words[0], words[1]
			if strings.HasSuffix(bin, "/") {
				bin += "mp3converter"
			}
		}
	}
	if build == nil {
		t.Fatalf("Dockerfile: the final stage does not COPY --from=<build stage> the mp3converter binary")
	}
	var entrypoint []string
	for _, in := range final.body {
		if in.cmd == "ENTRYPOINT" {
			entrypoint = nil
			if err := json.Unmarshal([]byte(in.args), &entrypoint); err != nil {
				t.Errorf("Dockerfile line %d: ENTRYPOINT %s is not in exec (JSON) form: %v", in.line, in.args, err)
			}
		}
	}
	if len(entrypoint) == 0 || entrypoint[0] != bin {
		t.Errorf("Dockerfile: ENTRYPOINT %q, want [%q] (the copied binary)", entrypoint, bin)
	}
	return build, built
}

// checkDockerfileBuild checks the build stage builds the binary at built
// statically from ./cmd/mp3converter, downloading modules before copying
// the source.
func checkDockerfileBuild(t *testing.T, build *stage, built string) {
	var modDownload, copyAll, goBuild int
	for i, in := range build.body {
		switch {
		case in.cmd == "RUN" && strings.Contains(in.args, "go mod download"):
			modDownload = i + 1
		case in.cmd == "COPY" && strings.HasPrefix(in.args, ". "):
			copyAll = i + 1
		case in.cmd == "RUN" && strings.Contains(in.args, "go build"):
			goBuild = i + 1
			words := strings.Fields(in.args)
			if !slices.Contains(words, "CGO_ENABLED=0") {
				t.Errorf("Dockerfile line %d: go build without CGO_ENABLED=0: the runtime stage has no build toolchain", in.line)
			}
			if o := slices.Index(words, "-o"); o < 0 || o+1 >= len(words) || words[o+1] != built {
				t.Errorf("Dockerfile line %d: go build does not write %s, the file the final stage copies", in.line, built)
			}
			if !slices.Contains(words, "./cmd/mp3converter") {
				t.Errorf("Dockerfile line %d: go build does not build ./cmd/mp3converter", in.line)
			}
		}
	}
	if goBuild == 0 || modDownload == 0 || copyAll == 0 || !(modDownload < copyAll && copyAll < goBuild) {
		t.Errorf("Dockerfile: build stage %q: want RUN go mod download, then COPY . ., then RUN go build", build.name)
	}
	if _, err := os.Stat("../cmd/mp3converter"); err != nil {
		t.Errorf("Dockerfile builds ./cmd/mp3converter: %v", err)
	}
}

// checkDockerfileExpose checks every port the role Deployments declare is
// exposed by the final stage.
func checkDockerfileExpose(t *testing.T, final *stage) {
	var exposed []string
	for _, in := range final.body {
		if in.cmd == "EXPOSE" {
			exposed = append(exposed, strings.Fields(in.args)...)
		}
	}
	m := render(t, "base")
	for _, r := range roles {
		if d := m.deployments[key(namespace, r.name)]; d != nil {
			for _, c := range d.Spec.Template.Spec.Containers {
				for _, p := range c.Ports {
					if n := strconv.Itoa(int(p.ContainerPort)); !slices.Contains(exposed, n) && !slices.Contains(exposed, n+"/tcp") {
						t.Errorf("Dockerfile: EXPOSE %q lacks port %s of Deployment %s", exposed, n, r.name)
					}
				}
			}
		}
	}
}
