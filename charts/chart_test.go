// Package charts_test renders the zerodrift Helm chart with the helm CLI (a Go tool
// dependency of the module: go tool helm), decodes every manifest strictly into the
// Kubernetes API types, and checks what an operator would notice: the hardening, the
// network policy, the RBAC, the configuration file and the guards against values that cannot
// work. Golden files pin the default, the cronjob and the sharded cronjob renders; go test
// ./charts -update rewrites them.
package charts_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/zerodrift/zerodrift/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	release   = "zerodrift"
	namespace = "zerodrift"
	chart     = "charts/zerodrift" // relative to the module root
	leaseName = "zerodrift"        // the release's full name
)

// The renders the tests share, as arguments after `helm template RELEASE CHART`.
var (
	defaults      = []string{}
	cronjob       = []string{"--set", "mode=cronjob"}
	cronjobApply  = []string{"--set", "mode=cronjob", "--set", "run.apply=true"}
	postgresApp   = []string{"-f", chart + "/examples/postgres-app.yaml"}
	cronjobSQLite = []string{"-f", chart + "/examples/cronjob-sqlite.yaml"}
	// single is deployment mode with one replica, the SQLite ledger and no leader election.
	single  = []string{"--set", "ledger.type=sqlite", "--set", "replicaCount=1", "--set", "leaderElection.enabled=false"}
	kubeAPI = []string{"--set-json", `networkPolicy.kubeAPI=[{"cidr":"10.0.0.2/32","port":6443}]`}
	// customConfig gives a configuration with nested maps, lists, numbers and booleans.
	customConfig = []string{"--set-json", `config=` + customConfigJSON}
	applyConfig  = []string{"--set", "config.mode=apply"}
	// sharded is cronjob mode with each run split into 3 shards (the postgres ledger).
	sharded = []string{"--set", "mode=cronjob", "--set", "shards=3"}
	// events is deployment mode consuming a feed's subscription by its full name; eventsID
	// names it by ID and project.
	events   = []string{"--set", "events.subscription=" + subscription, "--set", "events.concurrency=8"}
	eventsID = []string{"--set", "events.subscription=zerodrift-asset-feed", "--set", "events.project=ops-security"}
)

const subscription = "projects/ops-security/subscriptions/zerodrift-asset-feed"

const customConfigJSON = `{"mode":"apply","schedule":"*/15 * * * *","maxChanges":3,"paused":false,
"scope":{"projects":["p-1","p-2"],"exclude":["folders/42"]},
"github":{"repository":"acme/infra","draft":true,"maxPRsPerRun":4},
"baseline":{"trustedSourceRanges":["10.0.0.0/8"],"keyMaxAgeDays":60},
"exemptions":[{"resource":"//compute.googleapis.com/projects/p-1/global/firewalls/fw","rules":["firewall-open-ingress"],"reason":"partner","owner":"a@b.c","expires":"2030-01-01"}]}`

// everyRender lists every successful render, for the checks that hold for all of them.
var everyRender = map[string][]string{
	"defaults":       defaults,
	"cronjob":        cronjob,
	"cronjob-apply":  cronjobApply,
	"postgres-app":   postgresApp,
	"cronjob-sqlite": cronjobSQLite,
	"single":         single,
	"kube-api":       kubeAPI,
	"custom-config":  customConfig,
	"apply-config":   applyConfig,
	"sharded":        sharded,
	"events":         events,
	"events-id":      eventsID,
}

var (
	moduleRoot string
	helmHome   string
	// notesChart is a copy of the chart with one more template, which renders NOTES.txt
	// into a ConfigMap: helm template does not print the notes.
	notesChart string
)

// notesTemplate is the template notesChart adds.
const notesTemplate = `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-notes
data:
  NOTES.txt: {{ include "zerodrift/templates/NOTES.txt" . | toJson }}
`

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	moduleRoot = filepath.Dir(wd) // the tests run in charts/
	if _, err := os.Stat(filepath.Join(moduleRoot, "go.mod")); err != nil {
		fmt.Fprintf(os.Stderr, "module root not found above %s: %v\n", wd, err)
		return 1
	}
	// Helm's cache, configuration and data go to a folder of the test's own, not $HOME.
	if helmHome, err = os.MkdirTemp("", "zerodrift-chart-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(helmHome)
	notesChart = filepath.Join(helmHome, "notes-chart")
	if err := os.CopyFS(notesChart, os.DirFS(filepath.Join(moduleRoot, chart))); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(notesChart, "templates", "zz-notes.yaml"), []byte(notesTemplate), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Build helm once, before the tests run helm in parallel (the first build takes a while).
	if out, err := helm("version", "--short"); err != nil {
		fmt.Fprintf(os.Stderr, "go tool helm version: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// helm runs `go tool helm ARGS` in the module root and returns its combined output.
func helm(args ...string) (string, error) {
	cmd := exec.Command("go", append([]string{"tool", "helm"}, args...)...)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME="+filepath.Join(helmHome, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

type rendering struct {
	once sync.Once
	out  string
	err  error
}

var (
	renderMu sync.Mutex
	renders  = map[string]*rendering{}
)

// template renders the chart with extra arguments, once per distinct argument list.
func template(extra ...string) (string, error) {
	key := strings.Join(extra, "\x00")
	renderMu.Lock()
	r, ok := renders[key]
	if !ok {
		r = &rendering{}
		renders[key] = r
	}
	renderMu.Unlock()
	r.once.Do(func() {
		r.out, r.err = helm(append([]string{"template", release, chart, "--namespace", namespace}, extra...)...)
	})
	return r.out, r.err
}

// manifest is one rendered document, decoded into its Kubernetes type.
type manifest struct {
	kind, name string
	obj        any
}

// serviceMonitor is the part of monitoring.coreos.com/v1 ServiceMonitor the chart emits;
// decoding is strict, so a field the chart adds must be added here.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// kinds maps apiVersion/kind to a new value of its Go type. A kind not listed fails.
var kinds = map[string]func() any{
	"v1/ConfigMap":                             func() any { return &corev1.ConfigMap{} },
	"v1/ServiceAccount":                        func() any { return &corev1.ServiceAccount{} },
	"v1/Service":                               func() any { return &corev1.Service{} },
	"v1/PersistentVolumeClaim":                 func() any { return &corev1.PersistentVolumeClaim{} },
	"apps/v1/Deployment":                       func() any { return &appsv1.Deployment{} },
	"batch/v1/CronJob":                         func() any { return &batchv1.CronJob{} },
	"rbac.authorization.k8s.io/v1/Role":        func() any { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1/RoleBinding": func() any { return &rbacv1.RoleBinding{} },
	"policy/v1/PodDisruptionBudget":            func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":       func() any { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/ServiceMonitor":  func() any { return &serviceMonitor{} },
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decode splits a render into documents and decodes each strictly into its type.
func decode(out string) ([]manifest, error) {
	var ms []manifest
	for i, doc := range docSeparator.Split(out, -1) {
		var meta struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return nil, fmt.Errorf("document %d: %v\n%s", i, err, doc)
		}
		if meta.APIVersion == "" && meta.Kind == "" {
			if strings.TrimSpace(stripComments(doc)) != "" {
				return nil, fmt.Errorf("document %d has no apiVersion and kind:\n%s", i, doc)
			}
			continue
		}
		newObj, ok := kinds[meta.APIVersion+"/"+meta.Kind]
		if !ok {
			return nil, fmt.Errorf("document %d: unexpected kind %s %s", i, meta.APIVersion, meta.Kind)
		}
		obj := newObj()
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			return nil, fmt.Errorf("%s %s does not decode strictly: %v", meta.Kind, meta.Metadata.Name, err)
		}
		ms = append(ms, manifest{kind: meta.Kind, name: meta.Metadata.Name, obj: obj})
	}
	return ms, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// render renders and decodes, failing the test on any error.
func render(t *testing.T, extra []string) []manifest {
	t.Helper()
	out, err := template(extra...)
	if err != nil {
		t.Fatalf("helm template %s: %v", strings.Join(extra, " "), err)
	}
	ms, err := decode(out)
	if err != nil {
		t.Fatalf("helm template %s: %v", strings.Join(extra, " "), err)
	}
	return ms
}

// notes renders the chart's NOTES.txt with extra arguments.
func notes(t *testing.T, extra []string) string {
	t.Helper()
	out, err := helm(append([]string{"template", release, notesChart, "--namespace", namespace,
		"--show-only", "templates/zz-notes.yaml"}, extra...)...)
	if err != nil {
		t.Fatalf("rendering NOTES.txt with %s: %v", strings.Join(extra, " "), err)
	}
	ms, err := decode(out)
	if err != nil {
		t.Fatal(err)
	}
	return one[*corev1.ConfigMap](t, ms).Data["NOTES.txt"]
}

// all returns the decoded objects of type T.
func all[T any](ms []manifest) []T {
	var out []T
	for _, m := range ms {
		if o, ok := m.obj.(T); ok {
			out = append(out, o)
		}
	}
	return out
}

// one returns the single object of type T, failing the test unless there is exactly one.
func one[T any](t *testing.T, ms []manifest) T {
	t.Helper()
	objs := all[T](ms)
	if len(objs) != 1 {
		var zero T
		t.Fatalf("want exactly one %T, got %d", zero, len(objs))
	}
	return objs[0]
}

// podSpecs returns every pod spec the render would run, named by its owner.
func podSpecs(ms []manifest) map[string]*corev1.PodSpec {
	specs := map[string]*corev1.PodSpec{}
	for _, d := range all[*appsv1.Deployment](ms) {
		specs["Deployment "+d.Name] = &d.Spec.Template.Spec
	}
	for _, c := range all[*batchv1.CronJob](ms) {
		specs["CronJob "+c.Name] = &c.Spec.JobTemplate.Spec.Template.Spec
	}
	return specs
}

func podAnnotations(t *testing.T, ms []manifest) map[string]string {
	t.Helper()
	for _, d := range all[*appsv1.Deployment](ms) {
		return d.Spec.Template.Annotations
	}
	for _, c := range all[*batchv1.CronJob](ms) {
		return c.Spec.JobTemplate.Spec.Template.Annotations
	}
	t.Fatal("no pod template")
	return nil
}

func container(t *testing.T, spec *corev1.PodSpec) *corev1.Container {
	t.Helper()
	if len(spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(spec.Containers))
	}
	return &spec.Containers[0]
}

func env(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func configFile(t *testing.T, ms []manifest) []byte {
	t.Helper()
	for _, cm := range all[*corev1.ConfigMap](ms) {
		if cm.Name == leaseName {
			return []byte(cm.Data["config.yaml"])
		}
	}
	t.Fatal("no configuration ConfigMap")
	return nil
}

func TestEveryRenderDecodesStrictly(t *testing.T) {
	for name, args := range everyRender {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ms := render(t, args)
			if len(podSpecs(ms)) != 1 {
				t.Errorf("want one workload (Deployment or CronJob), got %d", len(podSpecs(ms)))
			}
			for _, m := range ms {
				if !strings.HasPrefix(m.name, release) {
					t.Errorf("%s %s is not named after the release", m.kind, m.name)
				}
			}
		})
	}
}

func TestPodsAreHardened(t *testing.T) {
	for name, args := range everyRender {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for owner, spec := range podSpecs(render(t, args)) {
				sc := spec.SecurityContext
				switch {
				case sc == nil:
					t.Fatalf("%s: no pod securityContext", owner)
				case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
					t.Errorf("%s: runAsNonRoot is not true", owner)
				case sc.RunAsUser == nil || *sc.RunAsUser != 65532, sc.RunAsGroup == nil || *sc.RunAsGroup != 65532,
					sc.FSGroup == nil || *sc.FSGroup != 65532:
					t.Errorf("%s: want runAsUser, runAsGroup and fsGroup 65532", owner)
				case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
					t.Errorf("%s: seccompProfile is not RuntimeDefault", owner)
				}
				if spec.HostNetwork || spec.HostPID || spec.HostIPC {
					t.Errorf("%s: shares a host namespace", owner)
				}
				for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
					csc := c.SecurityContext
					switch {
					case csc == nil:
						t.Fatalf("%s/%s: no securityContext", owner, c.Name)
					case csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation:
						t.Errorf("%s/%s: allowPrivilegeEscalation is not false", owner, c.Name)
					case csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem:
						t.Errorf("%s/%s: readOnlyRootFilesystem is not true", owner, c.Name)
					case csc.Privileged != nil && *csc.Privileged:
						t.Errorf("%s/%s: privileged", owner, c.Name)
					case csc.Capabilities == nil || !reflect.DeepEqual(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
						len(csc.Capabilities.Add) > 0:
						t.Errorf("%s/%s: capabilities are not drop [ALL], add none", owner, c.Name)
					}
					if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
						t.Errorf("%s/%s: want cpu and memory requests and a memory limit, got %v", owner, c.Name, c.Resources)
					}
					if !slices.Contains(c.Args, "--log-format=json") {
						t.Errorf("%s/%s: args %q lack --log-format=json", owner, c.Name, c.Args)
					}
					names := map[string]bool{}
					for _, e := range c.Env {
						if names[e.Name] {
							t.Errorf("%s/%s: env %s is set twice", owner, c.Name, e.Name)
						}
						names[e.Name] = true
					}
					tmp := false
					for _, vm := range c.VolumeMounts {
						tmp = tmp || vm.MountPath == "/tmp"
					}
					if !tmp {
						t.Errorf("%s/%s: no writable /tmp", owner, c.Name)
					}
				}
			}
		})
	}
}

func TestServiceAccountToken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		args  []string
		mount bool
	}{
		{"deployment with leader election", defaults, true},
		{"cronjob", cronjob, false},
		{"cronjob-sqlite example", cronjobSQLite, false},
		{"deployment without leader election", single, false},
	}
	for _, c := range cases {
		ms := render(t, c.args)
		if sa := one[*corev1.ServiceAccount](t, ms); sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Errorf("%s: the ServiceAccount does not turn token automount off", c.name)
		}
		for owner, spec := range podSpecs(ms) {
			got := spec.AutomountServiceAccountToken
			if got == nil || *got != c.mount {
				t.Errorf("%s: %s automountServiceAccountToken = %v, want %v", c.name, owner, got, c.mount)
			}
		}
	}
}

func TestRBACOnlyTouchesItsLease(t *testing.T) {
	for name, args := range everyRender {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ms := render(t, args)
			roles := all[*rbacv1.Role](ms)
			_, deployment := podSpecs(ms)["Deployment "+release]
			elect := deployment && !slices.Contains(args, "leaderElection.enabled=false")
			if !elect {
				if len(roles) != 0 || len(all[*rbacv1.RoleBinding](ms)) != 0 {
					t.Fatal("RBAC rendered without leader election")
				}
				return
			}
			role := one[*rbacv1.Role](t, ms)
			creates, named := false, false
			for _, r := range role.Rules {
				if !slices.Equal(r.APIGroups, []string{"coordination.k8s.io"}) || !slices.Equal(r.Resources, []string{"leases"}) {
					t.Errorf("rule %+v touches something other than leases in coordination.k8s.io", r)
				}
				if len(r.NonResourceURLs) > 0 {
					t.Errorf("rule %+v grants non-resource URLs", r)
				}
				for _, v := range r.Verbs {
					switch v {
					case "create":
						creates = true
						if len(r.ResourceNames) > 0 || len(r.Verbs) != 1 {
							t.Errorf("create must stand alone (it cannot be limited by name): %+v", r)
						}
					case "get", "update":
						named = true
						if !slices.Equal(r.ResourceNames, []string{leaseName}) {
							t.Errorf("%s is not limited to lease %s: %+v", v, leaseName, r)
						}
					default:
						t.Errorf("verb %q is more than leader election needs", v)
					}
				}
			}
			if !creates || !named {
				t.Errorf("want create, and get and update on lease %s; got %+v", leaseName, role.Rules)
			}
			rb := one[*rbacv1.RoleBinding](t, ms)
			if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != role.Name {
				t.Errorf("RoleBinding refers to %s %s, want Role %s", rb.RoleRef.Kind, rb.RoleRef.Name, role.Name)
			}
			sa := one[*corev1.ServiceAccount](t, ms)
			if len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Name != sa.Name {
				t.Errorf("RoleBinding subjects %+v, want only ServiceAccount %s", rb.Subjects, sa.Name)
			}
			c := container(t, podSpecs(ms)["Deployment "+release])
			for _, want := range []string{"--leader-election=true", "--leader-election-name=" + leaseName} {
				if !slices.Contains(c.Args, want) {
					t.Errorf("args %q lack %s", c.Args, want)
				}
			}
			for _, v := range []string{"POD_NAME", "POD_NAMESPACE"} {
				if e := env(c, v); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil {
					t.Errorf("%s is not set from the downward API", v)
				}
			}
		})
	}
}

// port is one allowed egress port and where it may go ("" for anywhere).
type port struct {
	protocol corev1.Protocol
	port     int32
	to       string
}

func TestNetworkPolicyEgressIsMinimal(t *testing.T) {
	metadata := []port{
		{corev1.ProtocolTCP, 80, "169.254.169.254/32"}, {corev1.ProtocolTCP, 8080, "169.254.169.254/32"},
		{corev1.ProtocolTCP, 987, "169.254.169.252/32"}, {corev1.ProtocolTCP, 988, "169.254.169.252/32"},
	}
	base := append([]port{{corev1.ProtocolUDP, 53, ""}, {corev1.ProtocolTCP, 53, ""}, {corev1.ProtocolTCP, 443, ""}}, metadata...)
	postgres := port{corev1.ProtocolTCP, 5432, ""}
	cases := map[string]struct {
		args []string
		want []port
	}{
		"defaults":                 {defaults, append(slices.Clone(base), postgres)},
		"cronjob":                  {cronjob, append(slices.Clone(base), postgres)},
		"cronjob-sqlite":           {cronjobSQLite, base},
		"postgres-app":             {postgresApp, append(slices.Clone(base), port{corev1.ProtocolTCP, 5432, "10.20.0.3/32"})},
		"kube-api":                 {kubeAPI, append(slices.Clone(base), postgres, port{corev1.ProtocolTCP, 6443, "10.0.0.2/32"})},
		"cronjob ignores kube-api": {append(slices.Clone(cronjob), kubeAPI...), append(slices.Clone(base), postgres)},
		// Pub/Sub is a Google API on 443, gRPC included: event mode needs nothing more.
		"events":  {events, append(slices.Clone(base), postgres)},
		"sharded": {sharded, append(slices.Clone(base), postgres)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ms := render(t, c.args)
			np := one[*networkingv1.NetworkPolicy](t, ms)
			if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
				t.Errorf("policyTypes %v: want Ingress and Egress", np.Spec.PolicyTypes)
			}
			if !reflect.DeepEqual(np.Spec.PodSelector.MatchLabels, map[string]string{
				"app.kubernetes.io/name": "zerodrift", "app.kubernetes.io/instance": release}) {
				t.Errorf("podSelector %v does not select the release's pods", np.Spec.PodSelector.MatchLabels)
			}
			var got []port
			for _, r := range np.Spec.Egress {
				if len(r.Ports) == 0 {
					t.Errorf("egress rule %+v allows every port", r)
				}
				dests := []string{""}
				if len(r.To) > 0 {
					dests = nil
					for _, peer := range r.To {
						if peer.IPBlock == nil || peer.PodSelector != nil || peer.NamespaceSelector != nil || len(peer.IPBlock.Except) > 0 {
							t.Errorf("egress peer %+v is not a plain ipBlock", peer)
							continue
						}
						dests = append(dests, peer.IPBlock.CIDR)
					}
				}
				for _, p := range r.Ports {
					if p.Port == nil || p.EndPort != nil || p.Protocol == nil {
						t.Errorf("egress port %+v is not one protocol and port", p)
						continue
					}
					for _, d := range dests {
						got = append(got, port{*p.Protocol, p.Port.IntVal, d})
					}
				}
			}
			if !sameSet(got, c.want) {
				t.Errorf("egress allows %v\nwant exactly %v", got, c.want)
			}
			_, deployment := podSpecs(ms)["Deployment "+release]
			if !deployment {
				if len(np.Spec.Ingress) != 0 {
					t.Errorf("a CronJob listens on nothing, yet ingress allows %+v", np.Spec.Ingress)
				}
				return
			}
			if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].Ports) != 1 || np.Spec.Ingress[0].Ports[0].Port.IntVal != 8080 {
				t.Errorf("ingress %+v: want only the http port 8080", np.Spec.Ingress)
			}
		})
	}
}

func sameSet[T comparable](a, b []T) bool {
	count := map[T]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		count[x]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestConfigRoundTrips(t *testing.T) {
	t.Parallel()
	var want map[string]any
	if err := json.Unmarshal([]byte(customConfigJSON), &want); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := yaml.Unmarshal(configFile(t, render(t, customConfig)), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config.yaml is not values.config:\ngot  %v\nwant %v", got, want)
	}
}

// The configuration file of every render is one the binary accepts, read by zerodrift's
// own strict parser: the keys the chart merges in (playbookDirs, github.tokenEnv,
// github.app.*) are real ones.
func TestConfigIsValidForZerodrift(t *testing.T) {
	for name, args := range everyRender {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := config.Parse(name+"/config.yaml", configFile(t, render(t, args))); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestChartWiresGitHubAndPlaybooks(t *testing.T) {
	t.Parallel()
	t.Run("GitHub App and playbooks", func(t *testing.T) {
		ms := render(t, postgresApp)
		raw := map[string]any{}
		if err := yaml.Unmarshal(configFile(t, ms), &raw); err != nil {
			t.Fatal(err)
		}
		gh := raw["github"].(map[string]any)
		app := gh["app"].(map[string]any)
		if app["privateKeyFile"] != "/var/run/secrets/zerodrift/github/private-key.pem" || app["id"] != float64(123456) || app["installationID"] != float64(45678901) {
			t.Errorf("github.app = %v", app)
		}
		if !reflect.DeepEqual(raw["playbookDirs"], []any{"/etc/zerodrift/playbooks"}) {
			t.Errorf("playbookDirs = %v", raw["playbookDirs"])
		}
		spec := podSpecs(ms)["Deployment "+release]
		c := container(t, spec)
		if env(c, "GITHUB_TOKEN") != nil {
			t.Error("GITHUB_TOKEN is set with a GitHub App")
		}
		mounts := map[string]corev1.VolumeMount{}
		for _, m := range c.VolumeMounts {
			mounts[m.Name] = m
		}
		if m := mounts["github-app"]; m.MountPath != "/var/run/secrets/zerodrift/github" || !m.ReadOnly {
			t.Errorf("github-app mount = %+v, want read-only at /var/run/secrets/zerodrift/github", m)
		}
		if m := mounts["config"]; m.MountPath != "/etc/zerodrift" || !m.ReadOnly {
			t.Errorf("config mount = %+v, want read-only at /etc/zerodrift", m)
		}
		paths := map[string]bool{}
		for _, v := range spec.Volumes {
			switch {
			case v.Secret != nil:
				if v.Secret.SecretName != "zerodrift-github-app" || len(v.Secret.Items) != 1 ||
					v.Secret.Items[0].Path != "private-key.pem" || *v.Secret.DefaultMode != 0o440 {
					t.Errorf("GitHub App key volume = %+v", v.Secret)
				}
			case v.Projected != nil:
				for _, src := range v.Projected.Sources {
					for _, item := range src.ConfigMap.Items {
						paths[item.Path] = true
					}
				}
			}
		}
		if !paths["config.yaml"] || !paths["playbooks/team-ssh-corp-ranges.yaml"] {
			t.Errorf("the config volume holds %v, want config.yaml and playbooks/team-ssh-corp-ranges.yaml", paths)
		}
		if e := env(c, "ZERODRIFT_LEDGER"); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name != "zerodrift-ledger" || e.ValueFrom.SecretKeyRef.Key != "url" {
			t.Errorf("ZERODRIFT_LEDGER = %+v, want from Secret zerodrift-ledger key url", e)
		}
		if sa := one[*corev1.ServiceAccount](t, ms); sa.Annotations["iam.gke.io/gcp-service-account"] != "zerodrift@ops-security.iam.gserviceaccount.com" {
			t.Errorf("ServiceAccount annotations %v lack the Workload Identity one", sa.Annotations)
		}
		sm := one[*serviceMonitor](t, ms)
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" ||
			sm.Labels["release"] != "kube-prometheus-stack" {
			t.Errorf("ServiceMonitor = %+v", sm)
		}
		svc := one[*corev1.Service](t, ms)
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].TargetPort.StrVal != "http" {
			t.Errorf("Service ports = %+v", svc.Spec.Ports)
		}
		if len(all[*corev1.PersistentVolumeClaim](ms)) != 0 {
			t.Error("a PersistentVolumeClaim with the postgres ledger")
		}
	})
	t.Run("GitHub token and SQLite", func(t *testing.T) {
		ms := render(t, cronjobSQLite)
		c := container(t, podSpecs(ms)["CronJob "+release])
		if e := env(c, "GITHUB_TOKEN"); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name != "zerodrift-github" || e.ValueFrom.SecretKeyRef.Key != "token" {
			t.Errorf("GITHUB_TOKEN = %+v, want from Secret zerodrift-github key token", e)
		}
		if e := env(c, "ZERODRIFT_LEDGER"); e == nil || e.Value != "sqlite:///var/lib/zerodrift/ledger.db" {
			t.Errorf("ZERODRIFT_LEDGER = %+v", e)
		}
		pvc := one[*corev1.PersistentVolumeClaim](t, ms)
		if pvc.Name != "zerodrift-ledger" || !slices.Equal(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) ||
			pvc.Spec.Resources.Requests.Storage().String() != "2Gi" || pvc.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("PersistentVolumeClaim = %+v", pvc)
		}
		mounted := false
		for _, m := range c.VolumeMounts {
			mounted = mounted || (m.Name == "ledger" && m.MountPath == "/var/lib/zerodrift" && !m.ReadOnly)
		}
		if !mounted {
			t.Errorf("the ledger is not mounted writable at /var/lib/zerodrift: %+v", c.VolumeMounts)
		}
		if raw := configFile(t, ms); !bytes.Contains(raw, []byte("tokenEnv: GITHUB_TOKEN")) {
			t.Errorf("config.yaml lacks github.tokenEnv: GITHUB_TOKEN:\n%s", raw)
		}
	})
}

func TestConfigChecksumRollsPods(t *testing.T) {
	t.Parallel()
	for _, pair := range [][2][]string{{defaults, applyConfig}, {cronjob, append(slices.Clone(cronjob), applyConfig...)}} {
		before := podAnnotations(t, render(t, pair[0]))["checksum/config"]
		after := podAnnotations(t, render(t, pair[1]))["checksum/config"]
		if len(before) != 64 || len(after) != 64 {
			t.Fatalf("checksum/config annotations %q and %q are not SHA-256s", before, after)
		}
		if before == after {
			t.Errorf("%v: the checksum did not change with the configuration", pair[1])
		}
	}
	if a, b := podAnnotations(t, render(t, defaults))["checksum/config"], podAnnotations(t, render(t, kubeAPI))["checksum/config"]; a != b {
		t.Error("the checksum changed though the configuration did not")
	}
}

func TestDeployment(t *testing.T) {
	t.Parallel()
	ms := render(t, defaults)
	d := one[*appsv1.Deployment](t, ms)
	if *d.Spec.Replicas != 2 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("replicas %d, strategy %s: want 2, RollingUpdate", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	c := container(t, &d.Spec.Template.Spec)
	if c.Args[0] != "serve" || !slices.Contains(c.Args, "--config=/etc/zerodrift/config.yaml") || !slices.Contains(c.Args, "--listen=:8080") {
		t.Errorf("args %q", c.Args)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
		c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: liveness %+v, readiness %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	pdb := one[*policyv1.PodDisruptionBudget](t, ms)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntVal != 1 {
		t.Errorf("PodDisruptionBudget minAvailable = %v, want 1", pdb.Spec.MinAvailable)
	}

	ms = render(t, single)
	d = one[*appsv1.Deployment](t, ms)
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("one replica on SQLite: replicas %d, strategy %s; want 1, Recreate", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	if len(all[*policyv1.PodDisruptionBudget](ms)) != 0 {
		t.Error("a PodDisruptionBudget for a single replica would block node drains")
	}
	if !slices.Contains(container(t, &d.Spec.Template.Spec).Args, "--leader-election=false") {
		t.Error("leader election is not turned off")
	}
}

func TestCronJob(t *testing.T) {
	t.Parallel()
	cj := one[*batchv1.CronJob](t, render(t, cronjob))
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %q, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	if cj.Spec.Schedule != "0 * * * *" {
		t.Errorf("schedule %q, want config.schedule 0 * * * *", cj.Spec.Schedule)
	}
	spec := cj.Spec.JobTemplate.Spec
	if spec.BackoffLimit == nil || cj.Spec.StartingDeadlineSeconds == nil || cj.Spec.SuccessfulJobsHistoryLimit == nil || cj.Spec.FailedJobsHistoryLimit == nil {
		t.Error("backoffLimit, startingDeadlineSeconds or a history limit is unset")
	}
	if spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q, want Never", spec.Template.Spec.RestartPolicy)
	}
	c := container(t, &spec.Template.Spec)
	if c.Args[0] != "run" || slices.Contains(c.Args, "--apply") || c.LivenessProbe != nil || len(c.Ports) != 0 {
		t.Errorf("args %q, probes or ports: want run without --apply, no probes, no ports", c.Args)
	}
	c = container(t, &one[*batchv1.CronJob](t, render(t, cronjobApply)).Spec.JobTemplate.Spec.Template.Spec)
	if !slices.Contains(c.Args, "--apply") {
		t.Errorf("run.apply=true: args %q lack --apply", c.Args)
	}
	cj = one[*batchv1.CronJob](t, render(t, cronjobSQLite))
	if cj.Spec.Schedule != "15 * * * *" || cj.Spec.TimeZone == nil || *cj.Spec.TimeZone != "Etc/UTC" {
		t.Errorf("schedule %q in %v, want cronjob.schedule 15 * * * * in Etc/UTC", cj.Spec.Schedule, cj.Spec.TimeZone)
	}
}

// With shards > 1, each run is an Indexed Job of that many pods, all at once, pod i
// running `zerodrift run --shard=i/N` with i from the downward API.
func TestShardedCronJob(t *testing.T) {
	t.Parallel()
	cj := one[*batchv1.CronJob](t, render(t, sharded))
	job := cj.Spec.JobTemplate.Spec
	if job.CompletionMode == nil || *job.CompletionMode != batchv1.IndexedCompletion ||
		job.Completions == nil || *job.Completions != 3 || job.Parallelism == nil || *job.Parallelism != 3 {
		t.Errorf("completionMode %v, completions %v, parallelism %v: want Indexed, 3, 3", job.CompletionMode, job.Completions, job.Parallelism)
	}
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %q, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	c := container(t, &job.Template.Spec)
	if c.Args[0] != "run" || !slices.Contains(c.Args, "--shard=$(JOB_COMPLETION_INDEX)/3") {
		t.Errorf("args %q lack --shard=$(JOB_COMPLETION_INDEX)/3", c.Args)
	}
	e := env(c, "JOB_COMPLETION_INDEX")
	if e == nil || e.Value != "" || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil ||
		e.ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
		t.Errorf("JOB_COMPLETION_INDEX = %+v, want the job-completion-index annotation from the downward API", e)
	}
	n := notes(t, sharded)
	for _, want := range []string{"Indexed Job of 3 pods", "--max-log-requests 3", ".spec.completions = 1"} {
		if !strings.Contains(n, want) {
			t.Errorf("NOTES.txt does not say %q:\n%s", want, n)
		}
	}

	// One shard (the default) is a plain Job.
	job = one[*batchv1.CronJob](t, render(t, cronjob)).Spec.JobTemplate.Spec
	c = container(t, &job.Template.Spec)
	if job.CompletionMode != nil || job.Completions != nil || job.Parallelism != nil || env(c, "JOB_COMPLETION_INDEX") != nil ||
		slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--shard") }) {
		t.Errorf("one shard: completionMode %v, completions %v, parallelism %v, args %q, env %+v: want a plain Job",
			job.CompletionMode, job.Completions, job.Parallelism, c.Args, c.Env)
	}
	if strings.Contains(notes(t, cronjob), "Indexed Job") {
		t.Error("NOTES.txt speaks of shards without them")
	}
}

// Kubernetes expands $(NAME) in a container's arguments only when NAME is one of its env
// variables; anything else is passed on as written.
func TestArgsReferOnlyToDeclaredEnv(t *testing.T) {
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for name, args := range everyRender {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for owner, spec := range podSpecs(render(t, args)) {
				c := container(t, spec)
				for _, a := range append(slices.Clone(c.Command), c.Args...) {
					for _, m := range ref.FindAllStringSubmatch(a, -1) {
						if env(c, m[1]) == nil {
							t.Errorf("%s: argument %q refers to $(%s), which the container's env does not declare", owner, a, m[1])
						}
					}
				}
			}
		})
	}
}

// Event mode passes the subscription to zerodrift serve, and says so in the notes.
func TestEventMode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"full name", events, []string{"--events=" + subscription, "--events-concurrency=8"}},
		{"ID and project", eventsID, []string{"--events=zerodrift-asset-feed", "--events-project=ops-security"}},
		{"off", defaults, nil},
	}
	for _, c := range cases {
		args := container(t, &one[*appsv1.Deployment](t, render(t, c.args)).Spec.Template.Spec).Args
		var got []string
		for _, a := range args {
			if strings.HasPrefix(a, "--events") {
				got = append(got, a)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: event flags %q, want %q", c.name, got, c.want)
		}
		n := notes(t, c.args)
		if on := strings.Contains(n, "Event mode is on"); on != (c.want != nil) {
			t.Errorf("%s: NOTES.txt says event mode is on: %t, want %t:\n%s", c.name, on, c.want != nil, n)
		}
	}
	// The subscription given in the configuration is event mode too.
	if n := notes(t, []string{"--set", "config.events.subscription=" + subscription}); !strings.Contains(n, "Event mode is on: every replica also consumes the Pub/Sub subscription "+subscription) {
		t.Errorf("config.events.subscription: NOTES.txt does not mention event mode:\n%s", n)
	}
}

func TestRefusedValues(t *testing.T) {
	cases := map[string]struct {
		args []string
		want []string
	}{
		"unknown key":        {[]string{"--set", "bogus=1"}, []string{"bogus"}},
		"nested unknown key": {[]string{"--set", "ledger.sqlite.sise=1Gi"}, []string{"sise"}},
		"bad mode":           {[]string{"--set", "mode=daemonset"}, []string{"/mode", "deployment", "cronjob"}},
		"bad ledger":         {[]string{"--set", "ledger.type=mysql"}, []string{"/ledger/type"}},
		"wrong type":         {[]string{"--set", "replicaCount=two"}, []string{"/replicaCount"}},
		"sqlite with two replicas": {[]string{"--set", "ledger.type=sqlite", "--set", "replicaCount=2"},
			[]string{"ledger.type=sqlite with replicaCount=2", "ReadWriteOnce", "replicaCount=1", "ledger.type=postgres"}},
		"several replicas without leader election": {[]string{"--set", "leaderElection.enabled=false"}, []string{"leaderElection.enabled=false"}},
		"token and App": {[]string{"--set", "github.existingSecret=a", "--set", "github.app.existingSecret=b",
			"--set", "github.app.id=1", "--set", "github.app.installationID=2"}, []string{"not both"}},
		"App without its ID":          {[]string{"--set", "github.app.existingSecret=b"}, []string{"github.app.id"}},
		"ServiceMonitor of a CronJob": {[]string{"--set", "mode=cronjob", "--set", "serviceMonitor.enabled=true"}, []string{"serviceMonitor.enabled needs mode=deployment"}},
		"config.ledger":               {[]string{"--set", "config.ledger=sqlite:///x.db"}, []string{"config.ledger"}},
		"no shard":                    {[]string{"--set", "mode=cronjob", "--set", "shards=0"}, []string{"/shards", "minimum"}},
		"too many shards":             {[]string{"--set", "mode=cronjob", "--set", "shards=1001"}, []string{"/shards", "maximum"}},
		"shards not a number":         {[]string{"--set", "mode=cronjob", "--set", "shards=three"}, []string{"/shards"}},
		"shards with SQLite": {[]string{"--set", "mode=cronjob", "--set", "shards=3", "--set", "ledger.type=sqlite"},
			[]string{"shards=3 with ledger.type=sqlite", "ReadWriteOnce", "ledger.type=postgres", "shards=1"}},
		"shards in deployment mode": {[]string{"--set", "shards=2"}, []string{"shards=2 needs mode=cronjob", "Indexed Job"}},
		"events in cronjob mode": {[]string{"--set", "mode=cronjob", "--set", "events.subscription=" + subscription},
			[]string{"events.* needs mode=deployment", "mode=deployment"}},
		"events concurrency in cronjob mode": {[]string{"--set", "mode=cronjob", "--set", "events.concurrency=4"},
			[]string{"events.* needs mode=deployment"}},
		"events ID without project": {[]string{"--set", "events.subscription=zerodrift-asset-feed"},
			[]string{"events.subscription=zerodrift-asset-feed is a subscription ID", "events.project", "projects/PROJECT/subscriptions/zerodrift-asset-feed"}},
		"bad subscription":   {[]string{"--set", "events.subscription=projects/p/topics/t"}, []string{"/events/subscription"}},
		"negative events":    {[]string{"--set", "events.concurrency=-1"}, []string{"/events/concurrency"}},
		"unknown events key": {[]string{"--set", "events.topic=t"}, []string{"topic"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := template(c.args...)
			if err == nil {
				t.Fatalf("helm template %s succeeded", strings.Join(c.args, " "))
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLint(t *testing.T) {
	for name, args := range map[string][]string{"defaults": nil, "cronjob": cronjob, "postgres-app": postgresApp, "cronjob-sqlite": cronjobSQLite,
		"sharded": sharded, "events": events} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if out, err := helm(append([]string{"lint", "--strict", chart}, args...)...); err != nil {
				t.Errorf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

func TestGolden(t *testing.T) {
	for file, args := range map[string][]string{"default.golden.yaml": defaults, "cronjob.golden.yaml": cronjob,
		"cronjob-sharded.golden.yaml": sharded} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			got, err := template(args...)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", file)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./charts -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("the render differs from %s (go test ./charts -update rewrites it; review the diff):\n%s", path, diff(string(want), got))
			}
		})
	}
}

// diff returns the lines removed (-) and added (+) between want and got, with their line
// numbers, from a longest-common-subsequence alignment.
func diff(want, got string) string {
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			fmt.Fprintf(&out, "-%4d %s\n", i+1, a[i])
			i++
		default:
			fmt.Fprintf(&out, "+%4d %s\n", j+1, b[j])
			j++
		}
	}
	return out.String()
}
