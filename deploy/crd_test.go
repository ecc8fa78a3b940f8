package deploy

import (
	"encoding/json"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The custom resources of deploy/components, as far as these checks read
// them. render decodes strictly, so a field the types below lack fails the
// test: add it here (with its JSON name from the CRD). scripts/ci-kubernetes.sh
// validates them against the real CRDs.

// scaledObject is KEDA's keda.sh/v1alpha1 ScaledObject.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		PollingInterval *int32 `json:"pollingInterval"`
		CooldownPeriod  *int32 `json:"cooldownPeriod"`
		Advanced        *struct {
			HorizontalPodAutoscalerConfig *struct {
				Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior"`
			} `json:"horizontalPodAutoscalerConfig"`
		} `json:"advanced"`
		Triggers []struct {
			Type              string            `json:"type"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind"`
			} `json:"authenticationRef"`
		} `json:"triggers"`
	} `json:"spec"`
}

// triggerAuthentication is KEDA's keda.sh/v1alpha1 TriggerAuthentication.
type triggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef"`
	} `json:"spec"`
}

// serviceMonitor is the Prometheus Operator's monitoring.coreos.com/v1
// ServiceMonitor.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// checkKEDA: a ScaledObject scales a rendered Deployment, which leaves its
// replicas to the autoscaler, on the queue that Deployment consumes, with
// credentials that exist.
func checkKEDA(t *testing.T, m *manifests) {
	scaled := map[string]bool{}
	for _, k := range sortedKeys(m.scaledObjects) {
		so := m.scaledObjects[k]
		what := "ScaledObject " + k
		ref := so.Spec.ScaleTargetRef
		d := m.deployments[key(so.Namespace, ref.Name)]
		if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || d == nil {
			t.Errorf("%s: scaleTargetRef %+v: no such Deployment", what, ref)
			continue
		}
		scaled[d.Name] = true
		lo, hi := so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount
		if lo == nil || hi == nil || *lo < 1 || *hi < *lo {
			t.Errorf("%s: minReplicaCount %s, maxReplicaCount %s: want 1 <= min <= max", what, ptrString(lo), ptrString(hi))
		}
		if len(so.Spec.Triggers) == 0 {
			t.Errorf("%s: no triggers", what)
		}
		env := m.env(d.Namespace, &d.Spec.Template.Spec.Containers[0])
		for _, tr := range so.Spec.Triggers {
			if tr.Type != "rabbitmq" {
				t.Errorf("%s: trigger type %q, want rabbitmq", what, tr.Type)
				continue
			}
			checkRabbitMQTrigger(t, m, what, so.Namespace, tr.Metadata, env)
			if tr.AuthenticationRef == nil || tr.AuthenticationRef.Kind != "" && tr.AuthenticationRef.Kind != "TriggerAuthentication" {
				t.Errorf("%s: want an authenticationRef to a TriggerAuthentication", what)
				continue
			}
			checkTriggerAuth(t, m, what, key(so.Namespace, tr.AuthenticationRef.Name))
		}
	}
	if m.want.keda && !scaled["converter"] {
		t.Errorf("no ScaledObject scales the converter Deployment")
	}
}

// checkRabbitMQTrigger checks a rabbitmq trigger counts the queue the
// Deployment consumes (env) by its length, through a Service KEDA can reach
// from its own namespace.
func checkRabbitMQTrigger(t *testing.T, m *manifests, what, ns string, md map[string]string, env map[string]setting) {
	if q := env["VIDEO_QUEUE"].value; md["queueName"] != q {
		t.Errorf("%s: queueName %q, but the Deployment consumes VIDEO_QUEUE=%q", what, md["queueName"], q)
	}
	if md["mode"] != "QueueLength" {
		t.Errorf("%s: mode %q, want QueueLength", what, md["mode"])
	}
	if v, err := strconv.ParseFloat(md["value"], 64); err != nil || v <= 0 {
		t.Errorf("%s: value %q, want a number of messages per replica above 0", what, md["value"])
	}
	// The management API counts the messages being processed too; AMQP only
	// the waiting ones, which would scale busy converters away.
	if md["protocol"] != "http" {
		t.Errorf("%s: protocol %q, want http (the management API counts unacknowledged messages)", what, md["protocol"])
	}
	u, err := url.Parse(md["host"])
	if err != nil || u.Scheme != "http" || u.User != nil {
		t.Errorf("%s: host %q, want http://SERVICE.NAMESPACE.svc:PORT/ without credentials (they come from the TriggerAuthentication)", what, md["host"])
		return
	}
	name, rest, _ := strings.Cut(u.Hostname(), ".")
	if rest != ns+".svc" && rest != ns+".svc.cluster.local" {
		t.Errorf("%s: host %q: want the Service's full name %s.%s.svc: KEDA resolves it from its own namespace", what, u.Host, name, ns)
	}
	svc := m.services[key(ns, name)]
	port, _ := strconv.Atoi(u.Port())
	if svc == nil {
		t.Errorf("%s: host %q: no Service %s in %s", what, u.Host, name, ns)
	} else if p, ok := servicePort(svc, int32(port), ""); !ok || p.TargetPort != intstr.FromString("http") {
		t.Errorf("%s: host %q: Service %s has no port %d to the management API (container port http)", what, u.Host, name, port)
	}
}

// checkTriggerAuth checks a TriggerAuthentication gives a user and password
// from Secret keys that exist.
func checkTriggerAuth(t *testing.T, m *manifests, what, k string) {
	ta := m.triggerAuths[k]
	if ta == nil {
		t.Errorf("%s: authenticationRef: no TriggerAuthentication %s", what, k)
		return
	}
	params := map[string]bool{}
	for _, r := range ta.Spec.SecretTargetRef {
		params[r.Parameter] = true
		s := m.secrets[key(ta.Namespace, r.Name)]
		if s == nil {
			t.Errorf("TriggerAuthentication %s: parameter %s: no Secret %s", k, r.Parameter, r.Name)
		} else if _, ok := secretData(s)[r.Key]; !ok {
			t.Errorf("TriggerAuthentication %s: parameter %s: Secret %s has no key %q", k, r.Parameter, r.Name, r.Key)
		}
	}
	if !params["username"] || !params["password"] {
		t.Errorf("TriggerAuthentication %s: parameters %v, want username and password", k, params)
	}
}

// checkMonitoring: each ServiceMonitor scrapes /metrics on the port its role
// listens on, through a named Service port, and NetworkPolicies let
// Prometheus reach it; with m.want.monitoring, every role has one.
func checkMonitoring(t *testing.T, m *manifests) {
	scraped := map[string]bool{}
	for _, k := range sortedKeys(m.serviceMonitors) {
		sm := m.serviceMonitors[k]
		what := "ServiceMonitor " + k
		sel, err := metav1.LabelSelectorAsMap(&sm.Spec.Selector)
		if err != nil || len(sm.Spec.Selector.MatchExpressions) > 0 {
			t.Errorf("%s: selector %+v: want matchLabels only", what, sm.Spec.Selector)
			continue
		}
		var svcs []*corev1.Service
		for _, sk := range sortedKeys(m.services) {
			if svc := m.services[sk]; svc.Namespace == sm.Namespace && selects(sel, svc.Labels) {
				svcs = append(svcs, svc)
			}
		}
		if len(svcs) != 1 {
			t.Errorf("%s: selector %v matches %d Services, want 1", what, sel, len(svcs))
			continue
		}
		if len(sm.Spec.Endpoints) == 0 {
			t.Errorf("%s: no endpoints", what)
		}
		for _, ep := range sm.Spec.Endpoints {
			if ep.Path != "/metrics" {
				t.Errorf("%s: path %q, want /metrics", what, ep.Path)
			}
			if r, ok := checkScrapedPort(t, m, what, svcs[0], ep.Port); ok {
				scraped[r] = true
			}
		}
	}
	for _, r := range roles {
		if m.want.monitoring && !scraped[r.name] {
			t.Errorf("role %s: no ServiceMonitor scrapes it", r.name)
		}
	}
	if n := checkDashboards(t, m); m.want.monitoring && n == 0 {
		t.Errorf("no ConfigMap labelled grafana_dashboard holds deploy/grafana/mp3converter.json")
	}
}

// checkDashboards checks the ConfigMaps Grafana's sidecar loads (label
// grafana_dashboard) hold dashboards, and returns how many.
func checkDashboards(t *testing.T, m *manifests) int {
	n := 0
	for _, k := range sortedKeys(m.configMaps) {
		cm := m.configMaps[k]
		if _, ok := cm.Labels["grafana_dashboard"]; !ok {
			continue
		}
		for file, data := range cm.Data {
			var d struct {
				Title  string            `json:"title"`
				UID    string            `json:"uid"`
				Panels []json.RawMessage `json:"panels"`
			}
			if err := json.Unmarshal([]byte(data), &d); err != nil || d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
				t.Errorf("ConfigMap %s key %s: not a Grafana dashboard with a title, uid and panels (%v)", k, file, err)
				continue
			}
			n++
		}
	}
	return n
}

// checkScrapedPort checks that Service port name of svc reaches the port
// its role listens on and that Prometheus may connect to it; it returns
// the role.
func checkScrapedPort(t *testing.T, m *manifests, what string, svc *corev1.Service, name string) (string, bool) {
	p, ok := servicePort(svc, 0, name)
	if name == "" || !ok {
		t.Errorf("%s: port %q: Service %s has no port of that name", what, name, svc.Name)
		return "", false
	}
	for _, r := range roles {
		d := m.deployments[key(svc.Namespace, r.name)]
		if d == nil || !selects(svc.Spec.Selector, d.Spec.Template.Labels) {
			continue
		}
		c := &d.Spec.Template.Spec.Containers[0]
		env, setting := m.env(d.Namespace, c), r.addr
		if env["MP3CONVERTER_METRICS_ADDR"].value != "" { // /metrics moved off the role's port
			setting = "MP3CONVERTER_METRICS_ADDR"
		}
		_, listen, _ := net.SplitHostPort(env[setting].value)
		if got, ok := containerPort(c, p.TargetPort); !ok || strconv.Itoa(int(got)) != listen {
			t.Errorf("%s: port %s goes to container port %s of %s, which serves /metrics on %s=%q", what, name, p.TargetPort.String(), r.name, setting, listen)
		}
		checkPrometheusAllowed(t, m, r.name, d.Spec.Template.Labels, p.TargetPort, c)
		return r.name, true
	}
	t.Errorf("%s: Service %s selects no role's Deployment", what, svc.Name)
	return "", false
}

// checkPrometheusAllowed: where NetworkPolicies limit who reaches a role's
// pods, one lets Prometheus reach the scraped port.
func checkPrometheusAllowed(t *testing.T, m *manifests, role string, labels map[string]string, port intstr.IntOrString, c *corev1.Container) {
	number, _ := containerPort(c, port)
	limited := false
	for _, np := range m.policies {
		if !selects(np.Spec.PodSelector.MatchLabels, labels) {
			continue
		}
		limited = true
		for _, rule := range np.Spec.Ingress {
			for _, from := range rule.From {
				if isPrometheus(from) && allowsPort(rule.Ports, c, number) {
					return
				}
			}
		}
	}
	if limited {
		t.Errorf("role %s: NetworkPolicies select its pods, but none lets Prometheus reach port %d", role, number)
	}
}

// allowsPort reports whether a NetworkPolicy rule's ports admit the
// container port number.
func allowsPort(ports []networkingv1.NetworkPolicyPort, c *corev1.Container, number int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil {
			return true
		}
		if got, ok := containerPort(c, *p.Port); ok && got == number {
			return true
		}
	}
	return false
}

// isPrometheus reports whether a NetworkPolicy peer is the Prometheus pods
// of kube-prometheus and the kube-prometheus-stack chart: labelled
// app.kubernetes.io/name=prometheus in the namespace "monitoring".
func isPrometheus(p networkingv1.NetworkPolicyPeer) bool {
	return p.IPBlock == nil && p.NamespaceSelector != nil && p.PodSelector != nil &&
		len(p.NamespaceSelector.MatchExpressions) == 0 && len(p.PodSelector.MatchExpressions) == 0 &&
		p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "monitoring" &&
		p.PodSelector.MatchLabels[nameLabel] == "prometheus"
}
