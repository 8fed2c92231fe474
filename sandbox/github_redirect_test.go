package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
)

// noFollow is an HTTP client that shows redirects instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func getWith(t *testing.T, url, auth string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestGitHubRedirectsToACredentialTrap(t *testing.T) {
	trap, err := StartCredentialTrap()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := trap.Close(); err != nil {
			t.Error(err)
		}
	})
	const path = "/api/v3/repos/acme/infra"
	srv, base := start(t, iacScenario(t), WithGitHub(GitHubOptions{
		Redirects: []GitHubRedirect{{Path: path, Target: trap.URL() + path, Status: http.StatusFound}}}))
	resp, _ := getWith(t, base+path+"?per_page=5", "Bearer "+DefaultGitHubToken)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != trap.URL()+path+"?per_page=5" {
		t.Errorf("redirect = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// The trap records what it receives, credentials included, and answers 404.
	resp, _ = getWith(t, trap.URL()+path+"?access_token=leaked", "")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the trap answered %d", resp.StatusCode)
	}
	getWith(t, trap.URL()+path, "token sent-along")
	getWith(t, trap.URL()+"/plain", "")
	reqs := trap.Requests()
	if len(reqs) != 3 || reqs[0].Credential() != "leaked" || reqs[1].Credential() != "token sent-along" || reqs[2].Credential() != "" {
		t.Errorf("trap requests = %+v", reqs)
	}
	if !strings.HasPrefix(trap.URL(), "http://127.0.0.") || strings.TrimPrefix(trap.URL(), "http://") == strings.TrimPrefix(base, "http://") {
		t.Errorf("the trap %s is not another loopback origin than %s", trap.URL(), base)
	}

	// A same-host redirect (a renamed repository) is served once addressed to its target.
	if err := srv.SetGitHubRedirect(GitHubRedirect{Path: "/api/v3/repos/acme/old", Target: base + path, Status: http.StatusMovedPermanently}); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetGitHubRedirect(GitHubRedirect{Path: path, Target: base + path}); err != nil {
		t.Fatal(err)
	}
	resp, _ = getWith(t, base+"/api/v3/repos/acme/old", "Bearer "+DefaultGitHubToken)
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != base+path {
		t.Errorf("renamed repository = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := getWith(t, base+path, "Bearer "+DefaultGitHubToken); resp.StatusCode != http.StatusOK {
		t.Errorf("a request addressed to the target = %d %s", resp.StatusCode, body)
	}

	for _, bad := range []GitHubRedirect{
		{Path: "/compute/v1/x", Target: trap.URL()},
		{Path: path, Target: "/relative"},
		{Path: path, Target: "ftp://h/x"},
		{Path: path, Target: trap.URL(), Status: http.StatusOK},
	} {
		if err := srv.SetGitHubRedirect(bad); err == nil {
			t.Errorf("SetGitHubRedirect(%+v) accepted", bad)
		}
		if _, err := New(iacScenario(t), WithGitHub(GitHubOptions{Redirects: []GitHubRedirect{bad}})); err == nil {
			t.Errorf("New with redirect %+v accepted", bad)
		}
	}
}

func TestGitHubFaultEchoesCredentials(t *testing.T) {
	srv, base := start(t, iacScenario(t))
	if err := srv.InjectGitHubFault(GitHubFault{Route: "repos.get", Status: http.StatusBadGateway, EchoCredential: true}); err != nil {
		t.Fatal(err)
	}
	resp, body := getWith(t, base+"/api/v3/repos/acme/infra", "token "+DefaultGitHubToken)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "request credential: token "+DefaultGitHubToken) {
		t.Errorf("echoing fault = %d %s", resp.StatusCode, body)
	}
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(iacScenario(t), WithGitHub(GitHubOptions{App: &GitHubApp{ID: 1, InstallationID: 2, PublicKey: &key.PublicKey, Token: "ghs_a b"}})); err == nil {
		t.Error("an installation token with white space accepted")
	}
}

func TestGitHubContentHoldsWhatWasWritten(t *testing.T) {
	srv, base := start(t, iacScenario(t))
	main, err := srv.GitHubCommitOf("main")
	if err != nil {
		t.Fatal(err)
	}
	ref := &github.Reference{Ref: github.String("refs/heads/feature"), Object: &github.GitObject{SHA: github.String(main.SHA)}}
	if _, _, err := ghClient(t, base, DefaultGitHubToken).Git.CreateRef(testContext(t), "acme", "infra", ref); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.CommitAsHuman("feature", map[string][]byte{"envs/prod/extra.tf": []byte("# written by a human\n")}, "Add extra\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.CreatePullRequest("feature", "main", "A title to find", "A body to find"); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for where, b := range srv.GitHubContent() {
		all.WriteString(where + "\n" + string(b) + "\n")
	}
	for _, want := range []string{"# infra", "# written by a human", "Add extra", "A title to find", "A body to find", "extra.tf", "ref heads/feature"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("GitHubContent lacks %q", want)
		}
	}
}
