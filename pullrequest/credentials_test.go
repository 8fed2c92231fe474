package pullrequest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"

	"github.com/zerodrift/zerodrift/sandbox"
)

// installationToken is the token the emulator issues to the App: a canary.
const installationToken = "ghs_INSTALLATIONcanary0123456789abcdefABCDEF"

// authMode is one way a Client authenticates: the emulator's side, the Client's side, and
// the credentials that must never reach another host or an error.
type authMode struct {
	name  string
	gh    sandbox.GitHubOptions
	set   func(*Config)
	creds []string
}

// authModes returns the token and the GitHub App modes, the App with a new key.
func authModes(t *testing.T) []authMode {
	t.Helper()
	appKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(appKey)})
	appCreds := []string{installationToken}
	for _, line := range strings.Split(strings.TrimSpace(string(pemKey)), "\n") {
		if !strings.HasPrefix(line, "-----") {
			appCreds = append(appCreds, line)
		}
	}
	return []authMode{
		{name: "token", gh: sandbox.GitHubOptions{Tokens: []string{secret}}, set: func(*Config) {}, creds: []string{secret}},
		{name: "app",
			gh: sandbox.GitHubOptions{App: &sandbox.GitHubApp{ID: 42, InstallationID: 7, PublicKey: &appKey.PublicKey, Token: installationToken}},
			set: func(c *Config) {
				c.Token = ""
				c.App = &App{ID: 42, InstallationID: 7, PrivateKeyPEM: pemKey}
			},
			creds: appCreds},
	}
}

// jwtRE matches a JWT such as an App signs.
var jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// checkNoCredential fails the test when text holds one of the mode's credentials or a JWT.
func (m authMode) checkNoCredential(t *testing.T, what, text string) {
	t.Helper()
	for _, c := range m.creds {
		if strings.Contains(text, c) {
			t.Errorf("%s holds a credential (%.12s...): %s", what, c, text)
		}
	}
	if jwtRE.MatchString(text) {
		t.Errorf("%s holds a JWT: %s", what, text)
	}
}

// startTrap starts a credential trap until the test ends.
func startTrap(t *testing.T) *sandbox.CredentialTrap {
	t.Helper()
	trap, err := sandbox.StartCredentialTrap()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := trap.Close(); err != nil {
			t.Error(err)
		}
	})
	return trap
}

// A redirect to another host (another address or port) is refused, whatever its status and
// whether it meets a read at New or a write in Ensure: neither the token nor the App's
// installation token ever reaches the other host, which records every request it gets.
func TestNoCredentialsFollowARedirectToAnotherHost(t *testing.T) {
	for _, mode := range authModes(t) {
		for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
			for _, at := range []struct{ name, path string }{
				{"new", "/api/v3/repos/acme/infra/git/ref/heads/main"},
				{"ensure", "/api/v3/repos/acme/infra/git/trees"},
			} {
				t.Run(fmt.Sprintf("%s/%d/%s", mode.name, status, at.name), func(t *testing.T) {
					trap := startTrap(t)
					gh := mode.gh
					gh.Redirects = []sandbox.GitHubRedirect{{Path: at.path, Target: trap.URL() + at.path, Status: status}}
					e := newEnv(t, sandbox.WithGitHub(gh))
					cfg := e.config()
					mode.set(&cfg)
					c, err := New(ctxFor(t), cfg, e.log)
					if at.name == "ensure" {
						if err != nil {
							t.Fatalf("New: %v", err)
						}
						_, err = c.Ensure(ctxFor(t), proposal(findingA, fixedTF))
					}
					if err == nil || !strings.Contains(err.Error(), "refusing a redirect to another host") {
						t.Errorf("through a %d to %s: %v, want the redirect refused", status, trap.URL(), err)
					}
					mode.checkNoCredential(t, "the error", fmt.Sprint(err))
					for _, r := range trap.Requests() {
						t.Errorf("the other host received %s %s (credential %t)", r.Method, r.RequestURI, r.Credential() != "")
					}
				})
			}
		}
	}
}

// GitHub redirects a renamed repository on the same host: such a redirect is followed,
// with the credentials.
func TestSameHostRedirectIsFollowed(t *testing.T) {
	for _, mode := range authModes(t) {
		t.Run(mode.name, func(t *testing.T) {
			e := newEnv(t, sandbox.WithGitHub(mode.gh))
			const old, renamed = "/api/v3/repos/acme/old-infra/git/ref/heads/main", "/api/v3/repos/acme/infra/git/ref/heads/main"
			if err := e.srv.SetGitHubRedirect(sandbox.GitHubRedirect{Path: old, Target: e.url + renamed, Status: http.StatusMovedPermanently}); err != nil {
				t.Fatal(err)
			}
			cfg := e.config()
			cfg.Repository = "acme/old-infra"
			mode.set(&cfg)
			if _, err := New(ctxFor(t), cfg, e.log); err != nil {
				t.Fatalf("New through a same-host redirect: %v", err)
			}
			reqs := e.srv.GitHubRequests()
			if last := reqs[len(reqs)-1]; last.Path != renamed || !last.Authenticated || last.Status != http.StatusOK {
				t.Errorf("the redirected request = %+v, want it authenticated and answered", last)
			}
		})
	}
}

// The hazard is real: a client that adds its credentials in its transport, as go-github's
// WithAuthToken and ghinstallation do, sends them on every hop of a redirect, and the trap
// records them. This is what the Client's host guard prevents.
func TestTrapCatchesAClientThatFollowsRedirects(t *testing.T) {
	for _, mode := range authModes(t) {
		t.Run(mode.name, func(t *testing.T) {
			trap := startTrap(t)
			const path = "/api/v3/repos/acme/infra"
			gh := mode.gh
			gh.Redirects = []sandbox.GitHubRedirect{{Path: path, Target: trap.URL() + path}}
			e := newEnv(t, sandbox.WithGitHub(gh))
			var hc *http.Client
			if mode.name == "app" {
				cfg := e.config()
				mode.set(&cfg)
				itr, err := ghinstallation.New(http.DefaultTransport, cfg.App.ID, cfg.App.InstallationID, cfg.App.PrivateKeyPEM)
				if err != nil {
					t.Fatal(err)
				}
				itr.BaseURL = e.url + "/api/v3"
				hc = &http.Client{Transport: itr}
			}
			naive := github.NewClient(hc)
			if mode.name == "token" {
				naive = naive.WithAuthToken(secret)
			}
			naive, err := naive.WithEnterpriseURLs(e.url+"/api/v3/", e.url+"/api/uploads/")
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = naive.Repositories.Get(ctxFor(t), "acme", "infra")
			var er *github.ErrorResponse
			if !errors.As(err, &er) || er.Response.StatusCode != http.StatusNotFound {
				t.Errorf("the naive client got %v, want the trap's 404", err)
			}
			reqs := trap.Requests()
			if len(reqs) != 1 || reqs[0].Credential() == "" || !strings.Contains(reqs[0].Credential(), mode.creds[0]) {
				t.Errorf("the trap recorded %+v, want the credential it was sent", reqs)
			}
		})
	}
}

// A server (or a gateway before it) that quotes the request's credentials in its error
// messages cannot make the Client repeat them: not the token, not the installation token.
func TestErrorsNeverRepeatCredentials(t *testing.T) {
	for _, mode := range authModes(t) {
		t.Run(mode.name, func(t *testing.T) {
			e := newEnv(t, sandbox.WithGitHub(mode.gh))
			cfg := e.config()
			mode.set(&cfg)
			c, err := New(ctxFor(t), cfg, e.log)
			if err != nil {
				t.Fatal(err)
			}
			echo := func(route string, times int) {
				t.Helper()
				if err := e.srv.InjectGitHubFault(sandbox.GitHubFault{Route: route, Status: http.StatusUnprocessableEntity, Times: times, EchoCredential: true}); err != nil {
					t.Fatal(err)
				}
			}
			// The fault does quote the credential: go-github's error carries it.
			echo("repos.get", 1)
			_, _, raw := c.gh.Repositories.Get(ctxFor(t), "acme", "infra")
			if raw == nil || !strings.Contains(raw.Error(), mode.creds[0]) {
				t.Fatalf("the echoing fault answered %v, want the credential quoted", raw)
			}

			echo("pulls.create", 1)
			_, err = c.Ensure(ctxFor(t), proposal(findingA, fixedTF))
			if err == nil || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), redacted) {
				t.Errorf("Ensure through an echoing 422: %v, want the error with the credential redacted", err)
			}
			mode.checkNoCredential(t, "Ensure's error", fmt.Sprint(err))

			echo("git.getRef", 1)
			_, err = New(ctxFor(t), cfg, e.log)
			if err == nil {
				t.Error("New through an echoing 422 succeeded")
			}
			mode.checkNoCredential(t, "New's error", fmt.Sprint(err))

			// Decoration failures are warnings, logged: scrubbed all the same.
			echo("issues.addLabels", labelAttempts)
			out, err := c.Ensure(ctxFor(t), proposal(findingB, fixedTF))
			if err != nil || len(out.Warnings) == 0 {
				t.Errorf("Ensure with a failing label: %+v, %v; want an outcome with a warning", out, err)
			}
			mode.checkNoCredential(t, "a warning", strings.Join(out.Warnings, "\n"))
			for _, entry := range e.logs.All() {
				mode.checkNoCredential(t, "a log entry", entry.Message+fmt.Sprint(entry.ContextMap()))
			}
		})
	}
}

// The App's JWT, sent to buy an installation token, is never quoted back either.
func TestInstallationTokenExchangeErrorsHoldNoJWT(t *testing.T) {
	mode := authModes(t)[1]
	e := newEnv(t, sandbox.WithGitHub(mode.gh))
	if err := e.srv.InjectGitHubFault(sandbox.GitHubFault{Route: "apps.createInstallationAccessToken", Status: http.StatusUnprocessableEntity, EchoCredential: true}); err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	mode.set(&cfg)
	_, err := New(ctxFor(t), cfg, e.log)
	if err == nil || !strings.Contains(err.Error(), "422") {
		t.Errorf("New with a failing token exchange: %v", err)
	}
	mode.checkNoCredential(t, "New's error", fmt.Sprint(err))
}

func TestRedact(t *testing.T) {
	s := newSecrets(Config{Token: "s3cr3t-static-value"})
	s.learn("learned-installation-credential")
	for _, tc := range []struct{ in, want string }{
		{"no secret here: GET /repos/acme/infra?recursive=1", "no secret here: GET /repos/acme/infra?recursive=1"},
		{"x s3cr3t-static-value y", "x [REDACTED] y"},
		{"x learned-installation-credential", "x [REDACTED]"},
		{"bad ghp_0123456789abcdefABCDEF0123 and ghs_zzzzzzzzzzzzzzzzzzzzzzzz", "bad [REDACTED] and [REDACTED]"},
		{"github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "[REDACTED]"},
		{"jwt eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiI0MiJ9.c2lnbmF0dXJl", "jwt [REDACTED]"},
		{"header Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345", "header Authorization: Bearer [REDACTED]"},
		{"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- after", "[REDACTED] after"},
		{"-----BEGIN PRIVATE KEY-----\nMIIE cut short", "[REDACTED]"},
		{`Get "https://x-access-token:abc123@ghe.example/api/v3/"`, `Get "https://x-access-token:[REDACTED]@ghe.example/api/v3/"`},
		{`Get "https://h/p?access_token=abc&page=2"`, `Get "https://h/p?access_token=[REDACTED]&page=2"`},
		{`Get "https://h/p?a=1&client_secret=abc"`, `Get "https://h/p?a=1&client_secret=[REDACTED]"`},
		{`Get "http://127.0.0.1:8080/api/v3/x": EOF`, `Get "http://127.0.0.1:8080/api/v3/x": EOF`},
	} {
		if got := s.redact(tc.in); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// A scrubbed error keeps the context's cancellation for errors.Is.
	err := s.scrub(fmt.Errorf("s3cr3t-static-value: %w", context.Canceled))
	if strings.Contains(err.Error(), "s3cr3t") || !errors.Is(err, context.Canceled) {
		t.Errorf("scrub = %v", err)
	}
}
