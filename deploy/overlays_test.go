package deploy

import (
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// expect is what an overlay changes in what the checks want.
type expect struct {
	// replicas per role; a role not here has its base count (roles).
	replicas map[string]int32
	// placeholders: the Secrets are the repository's CHANGE-ME ones, not
	// generated from files outside it.
	placeholders bool
	// keda: a ScaledObject scales the converter (components/keda).
	keda bool
	// monitoring: a ServiceMonitor scrapes every role
	// (components/monitoring).
	monitoring bool
	// image of the roles, if not roleImage.
	image string
}

var baseExpect = expect{placeholders: true}

var oneEach = map[string]int32{"gateway": 1, "auth": 1, "converter": 1, "notification": 1}

// overlayExpect has an entry for every directory in overlays/: TestOverlays
// renders each and runs every check on it.
var overlayExpect = map[string]expect{
	"minikube":   {replicas: oneEach},
	"keda":       {placeholders: true, keda: true},
	"monitoring": {placeholders: true, monitoring: true},
	"quorum":     {placeholders: true},
	"s3":         {placeholders: true},
	"ci-cluster": {replicas: oneEach, image: "mp3converter/mp3converter:ci-cluster"},
}

// TestOverlays renders every overlay, and minikube with both components as
// deploy/README.md shows, and runs the base's checks on each.
func TestOverlays(t *testing.T) {
	found, err := filepath.Glob("overlays/*/kustomization.yaml")
	if err != nil || len(found) == 0 {
		t.Fatalf("no overlays/*/kustomization.yaml (%v)", err)
	}
	root := copyDeploy(t)
	for _, f := range found {
		name := filepath.Base(filepath.Dir(f))
		want, ok := overlayExpect[name]
		if !ok {
			t.Errorf("overlays/%s: add what it changes to overlayExpect in overlays_test.go", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			m := render(t, filepath.Join(root, "overlays", name))
			m.want = want
			runChecks(t, m)
		})
	}
	t.Run("minikube+keda+monitoring", func(t *testing.T) {
		m := render(t, writeKustomization(t, root, "local", minikubeWithComponents))
		m.want = expect{replicas: oneEach, keda: true, monitoring: true}
		runChecks(t, m)
	})
}

// minikubeWithComponents is the deploy/local/kustomization.yaml that
// deploy/README.md suggests for KEDA and Prometheus on minikube.
const minikubeWithComponents = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../overlays/minikube
components:
  - ../components/keda
  - ../components/monitoring
`

// copyDeploy copies base, components and overlays to a temporary
// directory, without any secrets/ directory or .env file in the working
// tree, and runs each overlay's make-secrets.sh there as a user would. It
// returns the copy's root.
func copyDeploy(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, dir := range []string{"base", "components", "overlays", "grafana"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && d.Name() == "secrets":
				return filepath.SkipDir
			case d.IsDir():
				return os.MkdirAll(filepath.Join(root, path), 0o755)
			case strings.HasSuffix(path, ".env"):
				return nil
			}
			data, err := os.ReadFile(path)
			if err == nil {
				err = os.WriteFile(filepath.Join(root, path), data, 0o644)
			}
			return err
		})
		if err != nil && !(dir == "grafana" && os.IsNotExist(err)) {
			t.Fatal(err)
		}
	}
	scripts, _ := filepath.Glob(filepath.Join(root, "overlays", "*", "make-secrets.sh"))
	for _, s := range scripts {
		cmd := exec.Command("sh", s, filepath.Dir(s))
		cmd.Env = append(os.Environ(), "SMTP_URL=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", s, err, out)
		}
	}
	return root
}

// writeKustomization writes root/dir/kustomization.yaml and returns the
// directory.
func writeKustomization(t *testing.T, root, dir, content string) string {
	t.Helper()
	d := filepath.Join(root, dir)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "kustomization.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// checkReplicas checks a role's replica count: the overlay's, or the
// base's; unset where a ScaledObject scales the Deployment, so that
// applying the manifests does not fight the autoscaler.
func checkReplicas(t *testing.T, m *manifests, d *appsv1.Deployment, r role) {
	t.Helper()
	what := "Deployment " + key(d.Namespace, d.Name)
	for _, so := range m.scaledObjects {
		if so.Namespace == d.Namespace && so.Spec.ScaleTargetRef.Name == d.Name {
			if d.Spec.Replicas != nil {
				t.Errorf("%s: replicas %d, but ScaledObject %s owns the count: leave it unset", what, *d.Spec.Replicas, so.Name)
			}
			return
		}
	}
	want, ok := m.want.replicas[r.name]
	if !ok {
		want = r.replicas
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != want {
		t.Errorf("%s: replicas %v, want %d", what, ptrString(d.Spec.Replicas), want)
	}
}

// secretPairs are the credentials set twice: in the server's Secret, which
// creates the account on the first start, and in the URL the roles use.
var secretPairs = []struct{ url, urlKey, server, userKey, passKey string }{
	{"database", "MP3CONVERTER_DATABASE_URL", "mysql", "MYSQL_USER", "MYSQL_PASSWORD"},
	{"queue", "MP3CONVERTER_QUEUE_URL", "rabbitmq", "RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"},
}

// checkSecretPairs checks both halves of each pair agree, and that
// generated Secrets hold no placeholder and a JWT secret the binary takes.
func checkSecretPairs(t *testing.T, m *manifests) {
	for _, p := range secretPairs {
		u, us := m.secrets[key(namespace, p.url)], m.secrets[key(namespace, p.server)]
		if u == nil || us == nil {
			t.Errorf("no Secrets %s and %s", p.url, p.server)
			continue
		}
		parsed, err := url.Parse(secretData(u)[p.urlKey])
		if err != nil || parsed.User == nil {
			t.Errorf("Secret %s key %s: not a URL with a user and password", p.url, p.urlKey)
			continue
		}
		pass, _ := parsed.User.Password()
		server := secretData(us)
		if parsed.User.Username() != server[p.userKey] || pass != server[p.passKey] {
			t.Errorf("Secret %s key %s: user and password differ from %s and %s in Secret %s", p.url, p.urlKey, p.userKey, p.passKey, p.server)
		}
	}
	if m.want.placeholders {
		return
	}
	for _, k := range sortedKeys(m.secrets) {
		for name, v := range secretData(m.secrets[k]) {
			if strings.Contains(v, placeholder) {
				t.Errorf("Secret %s key %s: still the placeholder %s", k, name, placeholder)
			}
		}
	}
	var jwt string
	if s := m.secrets[key(namespace, "jwt")]; s != nil {
		jwt = secretData(s)["JWT_SECRET"]
	}
	if len(jwt) < 32 {
		t.Errorf("Secret jwt: JWT_SECRET of %d characters, want 32 or more", len(jwt))
	}
}

// TestS3 checks what components/s3 promises, in overlays/s3 and on
// minikube with the Secret make-secrets.sh writes: every role that keeps
// media reaches MinIO with the storage Secret's key pair, MinIO's root
// account is that pair, and MongoDB is gone.
func TestS3(t *testing.T) {
	root := copyDeploy(t)
	for name, dir := range map[string]string{
		"overlays/s3": filepath.Join(root, "overlays", "s3"),
		"minikube+s3": writeKustomization(t, root, "local", minikubeWithS3),
	} {
		if name == "minikube+s3" {
			// As deploy/README.md says: the Secret's file next to the
			// kustomization, which kustomize reads nothing outside of.
			script := filepath.Join(root, "overlays", "minikube", "make-secrets.sh")
			if out, err := exec.Command("sh", script, dir).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", script, err, out)
			}
		}
		t.Run(name, func(t *testing.T) {
			m := render(t, dir)
			for _, k := range []string{"mongodb", "mongodb-headless"} {
				if m.services[key(namespace, k)] != nil || m.statefulSets[key(namespace, k)] != nil {
					t.Errorf("%s is still rendered", k)
				}
			}
			minio := m.statefulSets[key(namespace, "minio")]
			if minio == nil {
				t.Fatal("no StatefulSet minio")
			}
			server := m.env(namespace, &minio.Spec.Template.Spec.Containers[0])
			want := map[string]string{"AWS_ACCESS_KEY_ID": "MINIO_ROOT_USER", "AWS_SECRET_ACCESS_KEY": "MINIO_ROOT_PASSWORD"}
			for _, r := range []string{"gateway", "converter", "notification"} {
				d := m.deployments[key(namespace, r)]
				env := m.env(namespace, &d.Spec.Template.Spec.Containers[0])
				if u := env["MP3CONVERTER_STORAGE_URL"].value; !strings.HasPrefix(u, "s3://") {
					t.Errorf("%s: MP3CONVERTER_STORAGE_URL=%q, want s3://", r, u)
				}
				for k, serverKey := range want {
					if s := env[k]; s.kind != "Secret" || s != server[serverKey] {
						t.Errorf("%s: %s from %s, MinIO's %s from %s: want the same Secret key", r, k, s.source(), serverKey, server[serverKey].source())
					}
				}
			}
		})
	}
}

// minikubeWithS3 is the deploy/local/kustomization.yaml that
// deploy/README.md suggests for MinIO on minikube.
const minikubeWithS3 = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../overlays/minikube
components:
  - ../components/s3
secretGenerator:
  - name: storage
    namespace: mp3converter
    envs: [secrets/storage.env]
    options:
      disableNameSuffixHash: true
      labels: {app.kubernetes.io/part-of: mp3converter}
`
