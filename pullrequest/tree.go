package pullrequest

import (
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"testing/fstest"

	"github.com/google/go-github/v60/github"
)

const (
	// maxFileBytes bounds a Terraform file read by ReadTree.
	maxFileBytes = 4 << 20
	// blobReaders is how many blobs ReadTree reads at once.
	blobReaders = 4
)

// terraformFile reports whether ReadTree keeps a path: *.tf, *.tfvars and *.hcl.
func terraformFile(p string) bool {
	switch path.Ext(p) {
	case ".tf", ".tfvars", ".hcl":
		return true
	}
	return false
}

// ReadTree returns the Terraform files (*.tf, *.tfvars, *.hcl) of the base branch's head
// commit, and that commit's SHA (for Proposal.BaseSHA). It lists the tree recursively and,
// when GitHub truncates that listing, walks the folders one by one instead. Symbolic links,
// submodules and files over 4 MiB are left out. The answer is an in-memory, read-only
// file system.
func (c *Client) ReadTree(ctx context.Context) (fs.FS, string, error) {
	files, sha, err := c.readTree(ctx)
	if err != nil {
		return nil, "", c.scrub(fmt.Errorf("pullrequest: reading %s of %s/%s: %w", c.cfg.BaseBranch, c.owner, c.repo, err))
	}
	return files, sha, nil
}

func (c *Client) readTree(ctx context.Context) (fs.FS, string, error) {
	head, err := c.branchHead(ctx, c.cfg.BaseBranch)
	if err != nil {
		return nil, "", err
	}
	commit, err := c.getCommit(ctx, head)
	if err != nil {
		return nil, "", err
	}
	blobs, err := c.listBlobs(ctx, commit.GetTree().GetSHA())
	if err != nil {
		return nil, "", err
	}
	out := fstest.MapFS{}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, blobReaders)
	var wg sync.WaitGroup
	for p, e := range blobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			b, err := c.readBlob(ctx, e.GetSHA())
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", p, err)
				}
				return
			}
			out[p] = &fstest.MapFile{Data: b, Mode: 0o444}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, "", firstErr
	}
	return out, head, nil
}

// listBlobs lists the Terraform blobs under a tree by path.
func (c *Client) listBlobs(ctx context.Context, root string) (map[string]*github.TreeEntry, error) {
	out := map[string]*github.TreeEntry{}
	keep := func(p string, e *github.TreeEntry) {
		if e.GetType() == "blob" && e.GetMode() != "120000" && terraformFile(p) && e.GetSize() <= maxFileBytes {
			out[p] = e
		}
	}
	tree, err := c.getTree(ctx, root, true)
	if err != nil {
		return nil, err
	}
	if !tree.GetTruncated() {
		for _, e := range tree.Entries {
			keep(e.GetPath(), e)
		}
		return out, nil
	}
	c.log.Info("recursive tree listing truncated; walking folders")
	var walk func(sha, prefix string, depth int) error
	walk = func(sha, prefix string, depth int) error {
		if depth > 64 {
			return fmt.Errorf("folders nested deeper than 64 under %s", prefix)
		}
		t, err := c.getTree(ctx, sha, false)
		if err != nil {
			return err
		}
		for _, e := range t.Entries {
			p := prefix + e.GetPath()
			if e.GetType() == "tree" {
				if err := walk(e.GetSHA(), p+"/", depth+1); err != nil {
					return err
				}
				continue
			}
			keep(p, e)
		}
		return nil
	}
	if err := walk(root, "", 0); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Client) readBlob(ctx context.Context, sha string) ([]byte, error) {
	var blob *github.Blob
	err := c.call(ctx, "get blob "+short(sha), false, func(ctx context.Context) (*github.Response, error) {
		var resp *github.Response
		var err error
		blob, resp, err = c.gh.Git.GetBlob(ctx, c.owner, c.repo, sha)
		return resp, err
	})
	if err != nil {
		return nil, err
	}
	switch blob.GetEncoding() {
	case "base64":
		b, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\n", "", "\r", "").Replace(blob.GetContent()))
		if err != nil {
			return nil, fmt.Errorf("blob %s: %w", short(sha), err)
		}
		return b, nil
	case "utf-8", "":
		return []byte(blob.GetContent()), nil
	}
	return nil, fmt.Errorf("blob %s: unknown encoding %q", short(sha), blob.GetEncoding())
}
