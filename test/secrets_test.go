package test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/zerodrift/zerodrift/sandbox"
)

// leakFinder looks for secrets in every form a program could write them in: as they are,
// JSON- and URL-escaped, hex, and base64 (standard and URL alphabets) at each of the three
// alignments a secret can have inside a larger encoded text. It also knows the shapes of
// credentials it was not told of: JWTs, private keys, GitHub tokens.
type leakFinder struct {
	forms []leakForm
}

type leakForm struct {
	what string
	text []byte
}

// credentialShapes are credentials by their look alone.
var credentialShapes = []struct {
	what string
	re   *regexp.Regexp
}{
	{"a JWT", regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}`)},
	{"a PEM private key", regexp.MustCompile(`PRIVATE KEY-----`)},
	{"a GitHub token", regexp.MustCompile(`gh[pousr]_[A-Za-z0-9]{30,}`)},
}

// minLeakForm is the shortest form searched: shorter ones could match by chance.
const minLeakForm = 16

// add makes a secret, and every form of it, something to find.
func (f *leakFinder) add(name, secret string) {
	add := func(how, s string) {
		if len(s) >= minLeakForm {
			f.forms = append(f.forms, leakForm{what: name + " (" + how + ")", text: []byte(s)})
		}
	}
	add("as is", secret)
	j, _ := json.Marshal(secret)
	add("JSON-escaped", string(j[1:len(j)-1]))
	add("URL-escaped", url.QueryEscape(secret))
	add("hex", hex.EncodeToString([]byte(secret)))
	for _, enc := range []struct {
		name string
		enc  *base64.Encoding
	}{{"base64", base64.StdEncoding}, {"base64url", base64.URLEncoding}} {
		for off := 0; off < 3; off++ {
			add(fmt.Sprintf("%s at offset %d", enc.name, off), base64Core(enc.enc, secret, off))
		}
	}
}

// base64Core is the part of the encoding of secret, after off bytes, that the secret
// alone decides: it stands in every encoding of a text holding the secret at an offset
// congruent to off modulo 3.
func base64Core(enc *base64.Encoding, secret string, off int) string {
	s := enc.EncodeToString(append(make([]byte, off), secret...))
	first := (8*off + 5) / 6
	last := 8 * (off + len(secret)) / 6
	return s[first:last]
}

// find returns what of the secrets, or of the credential shapes, data holds.
func (f *leakFinder) find(data []byte) []string {
	var out []string
	for _, form := range f.forms {
		if bytes.Contains(data, form.text) {
			out = append(out, form.what)
		}
	}
	for _, shape := range credentialShapes {
		if shape.re.Match(data) {
			out = append(out, shape.what)
		}
	}
	return out
}

// check fails the test for every secret sink holds.
func (f *leakFinder) check(t *testing.T, sink string, data []byte) {
	t.Helper()
	for _, what := range f.find(data) {
		t.Errorf("%s holds %s", sink, what)
	}
}

// randomHex is n random bytes in hex: canaries differ on every run.
func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// The finder sees a secret in every form it is written in, and only there: the secrets
// test cannot pass by missing one.
func TestLeakFinderSeesEveryForm(t *testing.T) {
	var f leakFinder
	secret := "zdcanary-selftest-" + randomHex(t, 12)
	f.add("the canary", secret)
	pemText := "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA" + randomHex(t, 24) + "\n-----END RSA PRIVATE KEY-----\n"
	f.add("the key", strings.TrimPrefix(strings.TrimSuffix(pemText, "\n-----END RSA PRIVATE KEY-----\n"), "-----BEGIN RSA PRIVATE KEY-----\n"))
	logLine, _ := json.Marshal(map[string]string{"level": "debug", "msg": "x", "key": pemText})
	for sink, data := range map[string]string{
		"a JSON log line":            `{"severity":"DEBUG","message":"calling","token":"` + secret + `"}`,
		"a JSON log line with a key": string(logLine),
		"base64 at offset 0":         base64.StdEncoding.EncodeToString([]byte(secret + "tail")),
		"base64 at offset 1":         base64.StdEncoding.EncodeToString([]byte("x" + secret)),
		"base64url at offset 2":      base64.URLEncoding.EncodeToString([]byte("xy" + secret + "z")),
		"base64 at offset 4":         base64.StdEncoding.EncodeToString([]byte("wxyz" + secret)),
		"a query":                    "https://h/p?access_token=" + url.QueryEscape(secret+" &"),
		"hex":                        "dump " + hex.EncodeToString([]byte("a"+secret)),
		"a JWT":                      "Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiI0MiIsImV4cCI6MTl9.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl",
		"an installation token":      "token ghs_0123456789abcdefghijABCDEFGHIJ0123456789",
	} {
		if len(f.find([]byte(data))) == 0 {
			t.Errorf("the finder misses the secret in %s: %s", sink, data)
		}
	}
	if got := f.find([]byte(`{"message":"run ended","status":"done"} ` + base64.StdEncoding.EncodeToString([]byte("zdcanary-selftest-")))); len(got) != 0 {
		t.Errorf("the finder sees %v where there is no secret", got)
	}
}

// tfState is a Terraform state (format 4) as a gcs backend stores it.
func tfState(t *testing.T, outputs map[string]any, resources ...map[string]any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(map[string]any{"version": 4, "terraform_version": "1.9.8", "serial": 42,
		"lineage": "3f1c9a2e-7d4b-4e0a-9c55-0a1b2c3d4e5f", "outputs": outputs, "resources": resources}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tfResource is one managed resource of a state, with one instance; sensitive names the
// attributes Terraform marks as such.
func tfResource(typ, name string, attrs map[string]any, sensitive ...string) map[string]any {
	provider := `provider["registry.terraform.io/hashicorp/google"]`
	if strings.HasPrefix(typ, "random_") {
		provider = `provider["registry.terraform.io/hashicorp/random"]`
	}
	var paths []any
	for _, s := range sensitive {
		paths = append(paths, []any{map[string]any{"type": "get_attr", "value": s}})
	}
	return map[string]any{"mode": "managed", "type": typ, "name": name, "provider": provider,
		"instances": []any{map[string]any{"schema_version": 0, "attributes": attrs, "sensitive_attributes": paths}}}
}

// A full cycle of serve, authenticated as a GitHub App, over a Terraform state full of
// secrets, with GitHub redirecting some calls to another host and quoting credentials back
// in its errors: no secret (the App's key or any line of it, the installation token, any
// JWT, the state's passwords and keys, in any encoding) reaches the logs at debug level,
// the ledger, the repository (pull requests, commits, comments), the metrics, the reports
// or the other host.
func TestSecretsNeverLeakThroughAFullCycle(t *testing.T) {
	var leaks leakFinder

	// The GitHub App: its private key, and the installation token the emulator issues.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	leaks.add("the App's private key", string(keyPEM))
	for i, line := range strings.Split(strings.TrimSpace(string(keyPEM)), "\n") {
		if !strings.HasPrefix(line, "-----") {
			leaks.add(fmt.Sprintf("line %d of the App's private key", i+1), line)
		}
	}
	installationToken := "ghs_zdcanary" + randomHex(t, 16)
	leaks.add("the installation token", installationToken)

	// The Terraform state of envs/prod (its backend: gs://acme-tfstate/envs/prod), with the
	// secrets Terraform keeps there.
	sqlPassword := "zdcanary-sql-password-" + randomHex(t, 12)
	randomResult := "zdcanary-random-result-" + randomHex(t, 12)
	outputValue := "zdcanary-sensitive-output-" + randomHex(t, 12)
	saKeyLine := "zdcanary-sa-private-key-" + randomHex(t, 24)
	saKeyFile, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "acme-prod",
		"private_key_id": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", "client_email": "deployer@acme-prod.iam.gserviceaccount.com",
		"private_key": "-----BEGIN PRIVATE KEY-----\n" + saKeyLine + "\n-----END PRIVATE KEY-----\n"})
	saKeyB64 := base64.StdEncoding.EncodeToString(saKeyFile)
	for name, secret := range map[string]string{"the SQL user's password": sqlPassword, "the random password": randomResult,
		"the sensitive output": outputValue, "the service account key": saKeyLine, "the service account key file": saKeyB64} {
		leaks.add(name, secret)
	}
	const keyName = "projects/acme-prod/serviceAccounts/deployer@acme-prod.iam.gserviceaccount.com/keys/0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
	state := tfState(t,
		map[string]any{"db_password": map[string]any{"value": outputValue, "type": "string", "sensitive": true}},
		tfResource("google_compute_firewall", "ssh_world", map[string]any{"id": "projects/acme-prod/global/firewalls/allow-ssh-world",
			"name": "allow-ssh-world", "project": "acme-prod",
			"self_link": "https://www.googleapis.com/compute/v1/projects/acme-prod/global/firewalls/allow-ssh-world"}),
		tfResource("google_service_account_key", "deployer", map[string]any{"id": keyName, "name": keyName,
			"private_key": saKeyB64, "private_key_type": "TYPE_GOOGLE_CREDENTIALS_FILE", "key_algorithm": "KEY_ALG_RSA_2048",
			"service_account_id": "projects/acme-prod/serviceAccounts/deployer@acme-prod.iam.gserviceaccount.com"}, "private_key"),
		tfResource("google_sql_user", "app", map[string]any{"id": "app//acme-db", "name": "app", "instance": "acme-db",
			"project": "acme-prod", "password": sqlPassword}, "password"),
		tfResource("random_password", "db", map[string]any{"id": "none", "length": 32, "special": true, "result": randomResult,
			"bcrypt_hash": "$2a$10$" + base64.RawStdEncoding.EncodeToString([]byte(randomResult))[:53]}, "result", "bcrypt_hash"),
	)

	// The other host GitHub redirects label calls to; it records whatever it receives.
	trap, err := sandbox.StartCredentialTrap()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := trap.Close(); err != nil {
			t.Error(err)
		}
	})
	sc, err := sandbox.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	sc.State = fstest.MapFS{"acme-tfstate/envs/prod/default.tfstate": {Data: state}}
	const labelPath, prLabelsPath = "/api/v3/repos/acme/infra/labels/zerodrift", "/api/v3/repos/acme/infra/issues/1/labels"
	srv, err := sandbox.New(sc, sandbox.WithGitHub(sandbox.GitHubOptions{
		App: &sandbox.GitHubApp{ID: 4242, InstallationID: 77, PublicKey: &key.PublicKey, Token: installationToken},
		Redirects: []sandbox.GitHubRedirect{
			{Path: labelPath, Target: trap.URL() + labelPath, Status: http.StatusTemporaryRedirect},
			{Path: prLabelsPath, Target: trap.URL() + prLabelsPath, Status: http.StatusFound},
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	sandboxURL, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	// Error paths: the first token exchange fails, quoting the JWT it was sent; every
	// reviewer request fails, quoting the installation token.
	for _, f := range []sandbox.GitHubFault{
		{Route: "apps.createInstallationAccessToken", Status: http.StatusUnprocessableEntity, EchoCredential: true},
		{Route: "pulls.requestReviewers", Status: http.StatusUnprocessableEntity, Times: 1000, EchoCredential: true},
	} {
		if err := srv.InjectGitHubFault(f); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	keyPath := filepath.Join(dir, "app-key.pem")
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ledgerDir := filepath.Join(dir, "ledger")
	if err := os.Mkdir(ledgerDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "zerodrift.yaml")
	writeWorkerConfig(t, cfgPath, sandboxURL, filepath.Join(ledgerDir, "ledger.db"), fmt.Sprintf(`  app:
    id: 4242
    installationID: 77
    privateKeyFile: %s
  labels: [zerodrift]
  reviewers: [alice]
`, keyPath))

	addr := freeAddr(t)
	base := "http://" + addr
	serve := startServe(t, nil, "--config", cfgPath, "--listen", addr, "--run-now", "--jitter", "0",
		"--leader-election", "off", "--log-format", "json", "--log-level", "debug")

	var metrics string
	waitFor(t, "a failed run, then runs that open pull requests and fix live", 90*time.Second, func() bool {
		_, metrics = httpGet(t, base+"/metrics", "")
		return metricValue(metrics, `zerodrift_runs_total{status="failed"}`) >= 1 &&
			metricValue(metrics, `zerodrift_runs_total{status="done"}`) >= 2 &&
			metricValue(metrics, `zerodrift_pull_requests_total{action="opened"}`) >= 1 &&
			metricValue(metrics, `zerodrift_remediations_total{outcome="verified"}`) >= 1
	})
	// The ledger while serve runs (its write-ahead log is there), then after it stops.
	ledgerFiles := func(when string) map[string][]byte {
		out := map[string][]byte{}
		entries, err := os.ReadDir(ledgerDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(ledgerDir, e.Name()))
			if err == nil {
				out["the ledger file "+e.Name()+" "+when] = b
			}
		}
		return out
	}
	sinks := ledgerFiles("while serving")
	stopServe(t, serve.cmd, serve.exited, 30*time.Second)
	for k, v := range ledgerFiles("after serve") {
		sinks[k] = v
	}

	// What people read besides: the run report and the ledger's history.
	run := zerodrift(t, "", "run", "--config", cfgPath, "--format", "json", "--log-level", "debug")
	if run.code != 0 {
		t.Errorf("run: exit %d\n%s", run.code, run.stderr)
	}
	history := zerodrift(t, "", "history", "--config", cfgPath, "--format", "json")
	if history.code != 0 || !strings.Contains(history.stdout, "acme-") {
		t.Errorf("history: exit %d, %.300s %s", history.code, history.stdout, history.stderr)
	}

	logs := serve.logs.String()
	sinks["serve's output"] = []byte(logs)
	sinks["/metrics"] = []byte(metrics)
	sinks["run's report"] = []byte(run.stdout)
	sinks["run's stderr"] = []byte(run.stderr)
	sinks["history"] = []byte(history.stdout + history.stderr)
	for where, b := range srv.GitHubContent() {
		sinks["the repository's "+where] = b
	}
	for i, r := range trap.Requests() {
		var dump bytes.Buffer
		fmt.Fprintf(&dump, "%s %s %s\n", r.Method, r.Host, r.RequestURI)
		_ = r.Header.Write(&dump)
		dump.Write(r.Body)
		sinks[fmt.Sprintf("request %d to the other host", i+1)] = dump.Bytes()
	}
	names := make([]string, 0, len(sinks))
	for name := range sinks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		leaks.check(t, name, sinks[name])
	}

	// The paths that could leak were all taken: the App authenticated, pull requests were
	// opened, the state was read, redirects were refused, echoed credentials redacted.
	if len(srv.PullRequests()) == 0 {
		t.Error("no pull request was opened")
	}
	routes := map[string]int{}
	for _, r := range srv.GitHubRequests() {
		routes[fmt.Sprintf("%s %d %s", r.Route, r.Status, r.AuthScheme)]++
		if r.AuthScheme != "" && r.Host != strings.TrimPrefix(sandboxURL, "http://") {
			t.Errorf("credentials sent to %s: %+v", r.Host, r)
		}
	}
	if routes["apps.createInstallationAccessToken 201 Bearer"] == 0 || routes["apps.createInstallationAccessToken 422 Bearer"] == 0 ||
		routes["pulls.create 201 token"] == 0 {
		t.Errorf("the App's token exchange (failed once, then done) and its use are not all there: %v", routes)
	}
	stateReads := 0
	for _, c := range srv.Calls() {
		if c.Service == sandbox.ServiceStorage && c.Status == http.StatusOK {
			stateReads += c.Count
		}
	}
	if stateReads == 0 {
		t.Errorf("the Terraform state was never read: %v", srv.Calls())
	}
	for _, want := range []string{"refusing a redirect to another host", "request credential: token " + "[REDACTED]"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %q: the error path was not taken", want)
		}
	}
	for _, r := range trap.Requests() {
		t.Errorf("the other host received %s %s (credential %t)", r.Method, r.RequestURI, r.Credential() != "")
	}
}
