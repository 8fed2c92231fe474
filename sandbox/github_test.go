package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
)

func iacScenario(t *testing.T) *Scenario {
	t.Helper()
	sc := loadBasic(t)
	sc.IaC = fstest.MapFS{
		"envs/prod/firewall.tf": {Data: []byte("resource \"google_compute_firewall\" \"ssh\" {\n  name = \"allow-ssh\"\n  source_ranges = [\"0.0.0.0/0\"]\n}\n")},
		"envs/prod/main.tf":     {Data: []byte("terraform {}\n")},
		"README.md":             {Data: []byte("# infra\n")},
	}
	return sc
}

func ghClient(t *testing.T, base, token string) *github.Client {
	t.Helper()
	c, err := github.NewClient(nil).WithAuthToken(token).WithEnterpriseURLs(base+"/api/v3/", base+"/api/uploads/")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ghStatus(t *testing.T, err error, want int) *github.ErrorResponse {
	t.Helper()
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != want {
		t.Fatalf("error = %v, want HTTP %d", err, want)
	}
	return er
}

func TestGitHubSeedAndGitData(t *testing.T) {
	srv, base := start(t, iacScenario(t))
	gh := ghClient(t, base, DefaultGitHubToken)
	ctx := testContext(t)

	repo, _, err := gh.Repositories.Get(ctx, "acme", "infra")
	if err != nil || repo.GetDefaultBranch() != "main" || repo.GetFullName() != "acme/infra" {
		t.Fatalf("Get repo = %v, %v", repo, err)
	}
	ref, _, err := gh.Git.GetRef(ctx, "acme", "infra", "heads/main")
	if err != nil {
		t.Fatal(err)
	}
	head := ref.GetObject().GetSHA()
	commit, _, err := gh.Git.GetCommit(ctx, "acme", "infra", head)
	if err != nil || len(commit.Parents) != 0 {
		t.Fatalf("GetCommit = %v, %v", commit, err)
	}
	tree, _, err := gh.Git.GetTree(ctx, "acme", "infra", commit.GetTree().GetSHA(), true)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range tree.Entries {
		paths = append(paths, e.GetPath()+":"+e.GetType())
	}
	want := []string{"README.md:blob", "envs:tree", "envs/prod:tree", "envs/prod/firewall.tf:blob", "envs/prod/main.tf:blob"}
	if !slices.Equal(paths, want) || tree.GetTruncated() {
		t.Errorf("tree = %v (truncated %v), want %v", paths, tree.GetTruncated(), want)
	}
	// README.md's blob ID is git's.
	if tree.Entries[0].GetSHA() != "2fead8d6410b23e9a893a6eb80360040b59a18be" { // git hash-object
		t.Errorf("README sha = %s", tree.Entries[0].GetSHA())
	}
	blob, _, err := gh.Git.GetBlob(ctx, "acme", "infra", tree.Entries[0].GetSHA())
	if err != nil || blob.GetEncoding() != "base64" {
		t.Fatalf("GetBlob = %v, %v", blob, err)
	}
	raw, _, err := gh.Git.GetBlobRaw(ctx, "acme", "infra", tree.Entries[0].GetSHA())
	if err != nil || string(raw) != "# infra\n" {
		t.Fatalf("GetBlobRaw = %q, %v", raw, err)
	}

	// A commit on a new branch: change one file, delete one, add one in a new folder.
	nt, _, err := gh.Git.CreateTree(ctx, "acme", "infra", commit.GetTree().GetSHA(), []*github.TreeEntry{
		{Path: github.String("envs/prod/firewall.tf"), Mode: github.String("100644"), Type: github.String("blob"), Content: github.String("changed\n")},
		{Path: github.String("README.md"), Mode: github.String("100644"), Type: github.String("blob")},
		{Path: github.String("envs/dev/main.tf"), Mode: github.String("100644"), Type: github.String("blob"), Content: github.String("dev\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	nc, _, err := gh.Git.CreateCommit(ctx, "acme", "infra", &github.Commit{
		Message: github.String("change"), Tree: nt, Parents: []*github.Commit{{SHA: github.String(head)}},
	}, nil)
	if err != nil || !nc.GetVerification().GetVerified() || nc.GetAuthor().GetName() != GitHubBotLogin {
		t.Fatalf("CreateCommit = %+v, %v", nc, err)
	}
	if _, _, err := gh.Git.CreateRef(ctx, "acme", "infra", &github.Reference{Ref: github.String("refs/heads/zerodrift/x/1"), Object: &github.GitObject{SHA: nc.SHA}}); err != nil {
		t.Fatal(err)
	}
	_, _, err = gh.Git.CreateRef(ctx, "acme", "infra", &github.Reference{Ref: github.String("refs/heads/zerodrift/x/1"), Object: &github.GitObject{SHA: nc.SHA}})
	if er := ghStatus(t, err, 422); er.Message != "Reference already exists" {
		t.Errorf("duplicate ref: %v", er)
	}
	got, err := srv.GitHubFile("zerodrift/x/1", "envs/dev/main.tf")
	if err != nil || string(got) != "dev\n" {
		t.Errorf("new file = %q, %v", got, err)
	}
	if _, err := srv.GitHubFile("zerodrift/x/1", "README.md"); err == nil {
		t.Error("deleted file still there")
	}
	refs, _, err := gh.Git.ListMatchingRefs(ctx, "acme", "infra", &github.ReferenceListOptions{Ref: "heads/zerodrift/"})
	if err != nil || len(refs) != 1 || refs[0].GetRef() != "refs/heads/zerodrift/x/1" {
		t.Errorf("ListMatchingRefs = %v, %v", refs, err)
	}
	// Not a fast forward without force.
	_, _, err = gh.Git.UpdateRef(ctx, "acme", "infra", &github.Reference{Ref: github.String("heads/zerodrift/x/1"), Object: &github.GitObject{SHA: github.String(head)}}, false)
	ghStatus(t, err, 422)
	if _, _, err := gh.Git.UpdateRef(ctx, "acme", "infra", &github.Reference{Ref: github.String("heads/zerodrift/x/1"), Object: &github.GitObject{SHA: github.String(head)}}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := gh.Git.DeleteRef(ctx, "acme", "infra", "heads/zerodrift/x/1"); err != nil {
		t.Fatal(err)
	}
	_, _, err = gh.Git.GetRef(ctx, "acme", "infra", "heads/zerodrift/x/1")
	ghStatus(t, err, 404)

	// Another repository is not there.
	_, _, err = gh.Repositories.Get(ctx, "acme", "other")
	ghStatus(t, err, 404)
}

func TestGitHubAuth(t *testing.T) {
	srv, base := start(t, iacScenario(t), WithGitHub(GitHubOptions{Repository: "corp/tf", BaseBranch: "trunk", Tokens: []string{"t-1"}}))
	ctx := testContext(t)
	_, _, err := ghClient(t, base, "wrong").Repositories.Get(ctx, "corp", "tf")
	if er := ghStatus(t, err, 401); er.Message != "Bad credentials" {
		t.Errorf("bad token: %v", er)
	}
	_, _, err = github.NewClient(nil).Repositories.Get(ctx, "corp", "tf")
	if err == nil {
		t.Error("api.github.com answered?")
	}
	c, err := github.NewClient(nil).WithEnterpriseURLs(base+"/api/v3/", base+"/api/uploads/")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Repositories.Get(ctx, "corp", "tf")
	ghStatus(t, err, 401)
	// "token" scheme works too.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v3/repos/corp/tf/git/ref/heads/trunk", nil)
	req.Header.Set("Authorization", "token t-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("token scheme: %d", resp.StatusCode)
	}
	reqs := srv.GitHubRequests()
	if len(reqs) != 3 || reqs[0].Authenticated || reqs[0].AuthScheme != "Bearer" || reqs[1].AuthScheme != "" || !reqs[2].Authenticated || reqs[2].AuthScheme != "token" {
		t.Errorf("requests = %+v", reqs)
	}
	for _, r := range reqs {
		if strings.Contains(r.Path+r.Query+r.AuthScheme, "t-1") {
			t.Errorf("request record holds the token: %+v", r)
		}
	}
}

func TestGitHubPulls(t *testing.T) {
	srv, base := start(t, iacScenario(t))
	gh := ghClient(t, base, DefaultGitHubToken)
	ctx := testContext(t)
	for _, b := range []string{"zerodrift/a/1", "zerodrift/b/2"} {
		if _, err := srv.CommitAsHuman("main", map[string][]byte{"x.tf": []byte("x\n")}, ""); err != nil {
			t.Fatal(err)
		}
		ref, _, err := gh.Git.GetRef(ctx, "acme", "infra", "heads/main")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := gh.Git.CreateRef(ctx, "acme", "infra", &github.Reference{Ref: github.String("refs/heads/" + b), Object: ref.Object}); err != nil {
			t.Fatal(err)
		}
		// No commits between main and the branch.
		_, _, err = gh.PullRequests.Create(ctx, "acme", "infra", &github.NewPullRequest{Title: github.String("t"), Head: github.String(b), Base: github.String("main")})
		ghStatus(t, err, 422)
		if _, err := srv.CommitAsHuman(b, map[string][]byte{"envs/prod/firewall.tf": []byte("fixed " + b + "\n")}, "fix"); err != nil {
			t.Fatal(err)
		}
		pr, _, err := gh.PullRequests.Create(ctx, "acme", "infra", &github.NewPullRequest{
			Title: github.String("fix " + b), Head: github.String("acme:" + b), Base: github.String("main"), Body: github.String("body"), Draft: github.Bool(true)})
		if err != nil || !pr.GetDraft() || pr.GetHead().GetRef() != b {
			t.Fatalf("Create = %v, %v", pr, err)
		}
		_, _, err = gh.PullRequests.Create(ctx, "acme", "infra", &github.NewPullRequest{Title: github.String("again"), Head: github.String(b), Base: github.String("main")})
		er := ghStatus(t, err, 422)
		if len(er.Errors) != 1 || !strings.Contains(er.Errors[0].Message, "A pull request already exists for acme:"+b) {
			t.Errorf("duplicate PR error = %v", er)
		}
	}
	all, _, err := gh.PullRequests.List(ctx, "acme", "infra", &github.PullRequestListOptions{State: "all"})
	if err != nil || len(all) != 2 || all[0].GetNumber() != 2 {
		t.Fatalf("List = %v, %v", all, err)
	}
	// A bare branch name is ignored, as GitHub ignores it.
	bare, _, _ := gh.PullRequests.List(ctx, "acme", "infra", &github.PullRequestListOptions{Head: "zerodrift/a/1"})
	one, _, _ := gh.PullRequests.List(ctx, "acme", "infra", &github.PullRequestListOptions{Head: "acme:zerodrift/a/1"})
	if len(bare) != 2 || len(one) != 1 || one[0].GetNumber() != 1 {
		t.Errorf("head filter: bare %d, owner:branch %d", len(bare), len(one))
	}
	// Paging.
	first, resp, err := gh.PullRequests.List(ctx, "acme", "infra", &github.PullRequestListOptions{ListOptions: github.ListOptions{PerPage: 1}})
	if err != nil || len(first) != 1 || resp.NextPage != 2 {
		t.Errorf("paging: %d items, next %d, %v", len(first), resp.NextPage, err)
	}

	// Labels: unknown labels are created on the issue-label POST, as GitHub does.
	if _, _, err := gh.Issues.CreateLabel(ctx, "acme", "infra", &github.Label{Name: github.String("security"), Color: github.String("b60205")}); err != nil {
		t.Fatal(err)
	}
	_, _, err = gh.Issues.CreateLabel(ctx, "acme", "infra", &github.Label{Name: github.String("Security")})
	if er := ghStatus(t, err, 422); len(er.Errors) != 1 || er.Errors[0].Code != "already_exists" {
		t.Errorf("duplicate label: %v", er)
	}
	if _, _, err := gh.Issues.GetLabel(ctx, "acme", "infra", "nope"); err == nil {
		t.Error("GetLabel of a missing label succeeded")
	}
	labels, _, err := gh.Issues.AddLabelsToIssue(ctx, "acme", "infra", 1, []string{"security", "zerodrift"})
	if err != nil || len(labels) != 2 {
		t.Fatalf("AddLabels = %v, %v", labels, err)
	}
	if got := srv.GitHubLabels(); !slices.Equal(got, []string{"security", "zerodrift"}) {
		t.Errorf("labels = %v", got)
	}
	if _, _, err := gh.PullRequests.RequestReviewers(ctx, "acme", "infra", 1, github.ReviewersRequest{Reviewers: []string{"alice"}, TeamReviewers: []string{"netsec"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := gh.Issues.CreateComment(ctx, "acme", "infra", 1, &github.IssueComment{Body: github.String("hello")}); err != nil {
		t.Fatal(err)
	}
	comments, _, err := gh.Issues.ListComments(ctx, "acme", "infra", 1, nil)
	if err != nil || len(comments) != 1 || comments[0].GetUser().GetLogin() != GitHubBotLogin {
		t.Errorf("comments = %v, %v", comments, err)
	}
	files, _, err := gh.PullRequests.ListFiles(ctx, "acme", "infra", 1, nil)
	if err != nil || len(files) != 1 || files[0].GetFilename() != "envs/prod/firewall.tf" || files[0].GetStatus() != "modified" {
		t.Fatalf("files = %v, %v", files, err)
	}
	if !strings.Contains(files[0].GetPatch(), "+fixed zerodrift/a/1") || !strings.Contains(files[0].GetPatch(), "-  source_ranges") {
		t.Errorf("patch = %s", files[0].GetPatch())
	}

	// Close #1 through the API, merge #2 by helper.
	if _, _, err := gh.PullRequests.Edit(ctx, "acme", "infra", 1, &github.PullRequest{State: github.String("closed"), Body: github.String("new")}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.MergePullRequest(2); err != nil {
		t.Fatal(err)
	}
	prs := srv.PullRequests()
	if prs[0].State != "closed" || prs[0].Merged || prs[0].Body != "new" || prs[0].ClosedAt.IsZero() ||
		!slices.Equal(prs[0].Labels, []string{"security", "zerodrift"}) || !slices.Equal(prs[0].Reviewers, []string{"alice"}) ||
		!slices.Equal(prs[0].TeamReviewers, []string{"netsec"}) || len(prs[0].Comments) != 1 {
		t.Errorf("#1 = %+v", prs[0])
	}
	if !prs[1].Merged || len(prs[1].Files) != 1 {
		t.Errorf("#2 = %+v", prs[1])
	}
	got, _ := srv.GitHubFile("main", "envs/prod/firewall.tf")
	if string(got) != "fixed zerodrift/b/2\n" {
		t.Errorf("main after merge: %q", got)
	}
	pr2, _, err := gh.PullRequests.Get(ctx, "acme", "infra", 2)
	if err != nil || !pr2.GetMerged() || pr2.MergedAt == nil {
		t.Errorf("Get #2 = %v, %v", pr2, err)
	}
	// #1 now conflicts with main (both changed firewall.tf), and a merged PR cannot reopen.
	if _, err := srv.MergePullRequest(1); err == nil {
		t.Error("merged a closed PR")
	}
	_, _, err = gh.PullRequests.Edit(ctx, "acme", "infra", 2, &github.PullRequest{State: github.String("open")})
	ghStatus(t, err, 422)
	// Deleting a branch closes its open PR.
	if _, _, err := gh.PullRequests.Edit(ctx, "acme", "infra", 1, &github.PullRequest{State: github.String("open")}); err != nil {
		t.Fatal(err)
	}
	if _, err := gh.Git.DeleteRef(ctx, "acme", "infra", "heads/zerodrift/a/1"); err != nil {
		t.Fatal(err)
	}
	if srv.PullRequests()[0].State != "closed" {
		t.Error("deleting the head branch left the PR open")
	}
}

func TestGitHubFaults(t *testing.T) {
	srv, base := start(t, iacScenario(t))
	gh := ghClient(t, base, DefaultGitHubToken)
	ctx := testContext(t)
	if err := srv.InjectGitHubFault(GitHubFault{Route: "repos.get", Status: 403, RetryAfter: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := srv.InjectGitHubFault(GitHubFault{Route: "write", Status: 429, RetryAfter: time.Second, Times: 2}); err != nil {
		t.Fatal(err)
	}
	_, _, err := gh.Repositories.Get(ctx, "acme", "infra")
	var abuse *github.AbuseRateLimitError
	if !errors.As(err, &abuse) || abuse.RetryAfter == nil || *abuse.RetryAfter != 2*time.Second {
		t.Fatalf("secondary rate limit = %#v", err)
	}
	// Reads are not writes; the 429 waits for a write.
	gh = ghClient(t, base, DefaultGitHubToken) // a fresh client: go-github blocks until the reset
	if _, _, err := gh.Git.GetRef(ctx, "acme", "infra", "heads/main"); err != nil {
		t.Fatal(err)
	}
	_, _, err = gh.Issues.CreateLabel(ctx, "acme", "infra", &github.Label{Name: github.String("x")})
	if er := ghStatus(t, err, 429); er.Response.Header.Get("Retry-After") != "1" {
		t.Errorf("429 Retry-After = %q", er.Response.Header.Get("Retry-After"))
	}
	if srv.PendingGitHubFaults() != 1 {
		t.Errorf("pending = %d", srv.PendingGitHubFaults())
	}
	// The generic faults apply to service "github".
	if err := srv.SetFaults(Faults{ErrorRate: 1, ErrorStatus: 502, Match: func(service, _ string) bool { return service == ServiceGitHub }}); err != nil {
		t.Fatal(err)
	}
	_, _, err = gh.Git.GetRef(ctx, "acme", "infra", "heads/main")
	if er := ghStatus(t, err, 502); er.Message != "Server Error" {
		t.Errorf("502 = %v", er)
	}
	found := false
	for _, c := range srv.Calls() {
		if c.Service == ServiceGitHub && c.Method == "git.getRef" && c.Status == 502 {
			found = true
		}
	}
	if !found {
		t.Errorf("Calls() = %v", srv.Calls())
	}
}

func TestGitHubTreeTruncatedAndRedirect(t *testing.T) {
	srv, base := start(t, iacScenario(t), WithGitHub(GitHubOptions{TreeLimit: 2}))
	gh := ghClient(t, base, DefaultGitHubToken)
	ctx := testContext(t)
	tree, _, err := gh.Git.GetTree(ctx, "acme", "infra", "main", true)
	if err != nil || !tree.GetTruncated() || len(tree.Entries) != 2 {
		t.Fatalf("tree = %v, %v", tree, err)
	}
	if got := srv.InjectedFaults(); len(got) != 0 {
		t.Errorf("the emulator's own tree limit counted as faults: %+v", got)
	}
	u, _ := url.Parse(base)
	other := "http://localhost:" + u.Port()
	if err := srv.RedirectGitHub("/api/v3/repos/acme/infra", other+"/api/v3/repos/acme/infra"); err != nil {
		t.Fatal(err)
	}
	// go-github's WithAuthToken sets the header on every request, redirected or not: the
	// emulator sees the token at the other host. This is the hazard the pullrequest
	// package's transport guards against.
	if _, _, err := gh.Repositories.Get(ctx, "acme", "infra"); err != nil {
		t.Fatal(err)
	}
	reqs := srv.GitHubRequests()
	last := reqs[len(reqs)-1]
	if last.Host != "localhost:"+u.Port() || !last.Authenticated {
		t.Errorf("redirected request = %+v", last)
	}
}

func TestGitHubAppAuth(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	srv, base := start(t, iacScenario(t), WithGitHub(GitHubOptions{App: &GitHubApp{ID: 42, InstallationID: 7, PublicKey: &key.PublicKey}}))
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	tr, err := ghinstallation.New(http.DefaultTransport, 42, 7, pemKey)
	if err != nil {
		t.Fatal(err)
	}
	tr.BaseURL = base + "/api/v3"
	gh, err := github.NewClient(&http.Client{Transport: tr}).WithEnterpriseURLs(base+"/api/v3/", base+"/api/uploads/")
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	if _, _, err := gh.Repositories.Get(ctx, "acme", "infra"); err != nil {
		t.Fatal(err)
	}
	// A wrong App ID is refused.
	bad, _ := ghinstallation.New(http.DefaultTransport, 43, 7, pemKey)
	bad.BaseURL = base + "/api/v3"
	gh2, _ := github.NewClient(&http.Client{Transport: bad}).WithEnterpriseURLs(base+"/api/v3/", base+"/api/uploads/")
	if _, _, err := gh2.Repositories.Get(ctx, "acme", "infra"); err == nil {
		t.Error("a wrong App ID got a token")
	}
	routes := map[string]int{}
	for _, r := range srv.GitHubRequests() {
		routes[r.Route+" "+http.StatusText(r.Status)]++
	}
	if routes["apps.createInstallationAccessToken Created"] != 1 || routes["apps.createInstallationAccessToken Unauthorized"] != 1 {
		t.Errorf("routes = %v", routes)
	}
}

func TestLoadScenarioIaC(t *testing.T) {
	fsys := scenarioFS(t, "")
	fsys["s/iac/envs/prod/main.tf"] = &fstest.MapFile{Data: []byte("terraform {}\n")}
	sc, err := LoadScenario(fsys, "s")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(sc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := srv.GitHubFile("main", "envs/prod/main.tf")
	if err != nil || string(got) != "terraform {}\n" {
		t.Errorf("seeded file = %q, %v", got, err)
	}
	// Without iac/ the repository is one empty commit.
	sc, err = LoadScenario(os.DirFS("testdata"), "basic")
	if err != nil || sc.IaC != nil {
		t.Fatalf("basic: %v, IaC %v", err, sc.IaC)
	}
	srv, err = New(sc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := srv.GitHubCommitOf("main")
	if err != nil || c.Tree != "4b825dc642cb6eb9a060e54bf8d69288fbee4904" {
		t.Errorf("empty repo commit = %+v, %v", c, err)
	}
	fsys["s/iac"] = &fstest.MapFile{Data: []byte("not a folder")}
	delete(fsys, "s/iac/envs/prod/main.tf")
	if _, err := LoadScenario(fsys, "s"); err == nil {
		t.Error("iac as a file was accepted")
	}
}

func TestGitObjectIDs(t *testing.T) {
	g, err := newGitHub(fstest.MapFS{
		"README.md":         {Data: []byte("# infra\n")},
		"envs/prod/main.tf": {Data: []byte("terraform {}\n")},
	}, GitHubOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := g.commits[g.refs["heads/main"]]
	if c.tree != "fc556f3039ca8238119793cafa64ceac6569615f" { // git write-tree of the same files
		t.Errorf("tree ID = %s", c.tree)
	}
}

func TestUnifiedDiff(t *testing.T) {
	a := []byte("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n")
	b := []byte("1\n2\nthree\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\nsixteen")
	patch, adds, dels := unifiedDiff(a, b)
	want := "@@ -1,6 +1,6 @@\n 1\n 2\n-3\n+three\n 4\n 5\n 6\n@@ -13,3 +13,4 @@\n 13\n 14\n 15\n+sixteen\n\\ No newline at end of file"
	if patch != want || adds != 2 || dels != 1 {
		t.Errorf("patch (+%d -%d) =\n%s\nwant\n%s", adds, dels, patch, want)
	}
	if p, _, _ := unifiedDiff(nil, []byte("x\n")); p != "@@ -0,0 +1 @@\n+x" {
		t.Errorf("added file patch = %q", p)
	}
}

func TestBuiltinScenarioSeedsGitHub(t *testing.T) {
	sc, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if sc.IaC == nil {
		t.Skip("the built-in scenario has no iac/ folder")
	}
	srv, err := New(sc)
	if err != nil {
		t.Fatal(err)
	}
	tfs := 0
	for _, f := range srv.gh.flatten(srv.gh.commits[srv.gh.refs["heads/main"]].tree) {
		if strings.HasSuffix(f.name, ".tf") {
			tfs++
		}
	}
	if tfs == 0 {
		t.Error("the built-in repository holds no Terraform file")
	}
}
