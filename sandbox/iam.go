package sandbox

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
)

// IAM's service account page size default and limit.
const (
	iamDefaultPageSize = 20
	iamMaxPageSize     = 100
)

// iamProject resolves the project of an IAM call; "-" (any project) resolves to "".
func (s *Server) iamProject(c *call, permission string) (string, *apiError) {
	p := c.params["project"]
	if p == "-" {
		return "", nil
	}
	ref := s.st.project(p)
	if ref == nil {
		return "", errPermission(permission)
	}
	return ref.key(), nil
}

// findAccount finds the service account a call names by email or unique ID.
func (s *Server) findAccount(c *call, permission string) (*entry, *apiError) {
	proj, aerr := s.iamProject(c, permission)
	if aerr != nil {
		return nil, aerr
	}
	id := c.params["account"]
	match := func(e *entry) bool { return str(e.data, "email") == id || str(e.data, "uniqueId") == id }
	var found []*entry
	if proj == "" {
		found = s.st.sortedEntries(inventory.TypeServiceAccount, match)
	} else {
		found = s.st.projectEntries(inventory.TypeServiceAccount, proj, match)
	}
	if len(found) > 0 {
		return found[0], nil
	}
	return nil, errStatus(http.StatusNotFound, "Unknown service account")
}

func (s *Server) listServiceAccounts(c *call) response {
	proj, aerr := s.iamProject(c, "iam.serviceAccounts.list")
	if aerr != nil {
		return fail(aerr)
	}
	if proj == "" {
		return fail(errStatus(http.StatusBadRequest, "Request contains an invalid argument: a project is required."))
	}
	q := c.r.URL.Query()
	size, aerr := pageSize(q, "pageSize", iamDefaultPageSize, iamMaxPageSize)
	if aerr != nil {
		return fail(aerr)
	}
	accts := s.st.projectEntries(inventory.TypeServiceAccount, proj, nil)
	slices.SortFunc(accts, func(a, b *entry) int {
		return strings.Compare(str(a.data, "email"), str(b.data, "email"))
	})
	page, next, aerr := pageOf(accts, func(e *entry) string { return str(e.data, "email") }, size, q.Get("pageToken"))
	if aerr != nil {
		return fail(aerr)
	}
	body := map[string]any{}
	if len(page) > 0 {
		items := make([]any, len(page))
		for i, e := range page {
			items[i] = e.data
		}
		body["accounts"] = items
	}
	if next != "" {
		body["nextPageToken"] = next
	}
	return reply(body)
}

func (s *Server) getServiceAccount(c *call) response {
	e, aerr := s.findAccount(c, "iam.serviceAccounts.get")
	if aerr != nil {
		return fail(aerr)
	}
	return reply(e.data)
}

func setAccountDisabled(disabled bool) func(*Server, *call) response {
	return func(s *Server, c *call) response {
		perm := "iam.serviceAccounts.enable"
		if disabled {
			perm = "iam.serviceAccounts.disable"
		}
		e, aerr := s.findAccount(c, perm)
		if aerr != nil {
			return fail(aerr)
		}
		setFlag(e.data, "disabled", disabled)
		e.updateTime = s.st.now()
		return reply(nil)
	}
}

func (s *Server) getAccountPolicy(c *call) response {
	e, aerr := s.findAccount(c, "iam.serviceAccounts.getIamPolicy")
	if aerr != nil {
		return fail(aerr)
	}
	version := 0
	if v := c.r.URL.Query().Get("options.requestedPolicyVersion"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fail(errStatus(http.StatusBadRequest, fmt.Sprintf("Invalid value at 'options.requested_policy_version' (TYPE_INT32), %q", v)))
		}
		version = n
	} else {
		var req struct {
			Options struct {
				RequestedPolicyVersion int `json:"requestedPolicyVersion"`
			} `json:"options"`
		}
		if aerr := decodeBody(c.body, &req); aerr != nil {
			return fail(aerr)
		}
		version = req.Options.RequestedPolicyVersion
	}
	return s.readPolicy(e, version)
}

func (s *Server) setAccountPolicy(c *call) response {
	e, aerr := s.findAccount(c, "iam.serviceAccounts.setIamPolicy")
	if aerr != nil {
		return fail(aerr)
	}
	return s.writePolicy(e, c)
}

// keysOf returns the keys of a service account, sorted by key ID, with their names in the
// form the API gives: projects/P/serviceAccounts/EMAIL/keys/KEY.
func (s *Server) keysOf(acct *entry) []*entry {
	email, uid := str(acct.data, "email"), str(acct.data, "uniqueId")
	keys := s.st.projectEntries(inventory.TypeServiceAccountKey, acct.project, func(e *entry) bool {
		return e.scope == email || uid != "" && e.scope == uid
	})
	slices.SortFunc(keys, func(a, b *entry) int { return strings.Compare(a.short, b.short) })
	for _, k := range keys {
		k.data["name"] = "projects/" + acct.project + "/serviceAccounts/" + email + "/keys/" + k.short
	}
	return keys
}

func (s *Server) listKeys(c *call) response {
	acct, aerr := s.findAccount(c, "iam.serviceAccountKeys.list")
	if aerr != nil {
		return fail(aerr)
	}
	types := c.r.URL.Query()["keyTypes"]
	for _, t := range types {
		if t != "USER_MANAGED" && t != "SYSTEM_MANAGED" && t != "KEY_TYPE_UNSPECIFIED" {
			return fail(errStatus(http.StatusBadRequest, fmt.Sprintf("Invalid value at 'key_types' (type.googleapis.com/google.iam.admin.v1.ListServiceAccountKeysRequest.KeyType), %q", t)))
		}
	}
	var items []any
	for _, k := range s.keysOf(acct) {
		if len(types) == 0 || slices.Contains(types, str(k.data, "keyType")) || slices.Contains(types, "KEY_TYPE_UNSPECIFIED") {
			items = append(items, k.data)
		}
	}
	body := map[string]any{}
	if len(items) > 0 {
		body["keys"] = items
	}
	return reply(body)
}

// findKey finds the key a call names among the account's keys.
func (s *Server) findKey(c *call, permission string) (*entry, *apiError) {
	acct, aerr := s.findAccount(c, permission)
	if aerr != nil {
		return nil, aerr
	}
	for _, k := range s.keysOf(acct) {
		if k.short == c.params["key"] {
			return k, nil
		}
	}
	return nil, errStatus(http.StatusNotFound, fmt.Sprintf("Service account key %s does not exist.", c.params["key"]))
}

func (s *Server) getKey(c *call) response {
	k, aerr := s.findKey(c, "iam.serviceAccountKeys.get")
	if aerr != nil {
		return fail(aerr)
	}
	return reply(k.data)
}

func (s *Server) deleteKey(c *call) response {
	k, aerr := s.findKey(c, "iam.serviceAccountKeys.delete")
	if aerr != nil {
		return fail(aerr)
	}
	delete(s.st.entries, k.name)
	return reply(nil)
}

func setKeyDisabled(disabled bool) func(*Server, *call) response {
	return func(s *Server, c *call) response {
		perm := "iam.serviceAccountKeys.enable"
		if disabled {
			perm = "iam.serviceAccountKeys.disable"
		}
		k, aerr := s.findKey(c, perm)
		if aerr != nil {
			return fail(aerr)
		}
		setFlag(k.data, "disabled", disabled)
		k.updateTime = s.st.now()
		return reply(nil)
	}
}

// setFlag sets a boolean field the way Google answers it: present when true, absent when
// false.
func setFlag(d map[string]any, key string, v bool) {
	if v {
		d[key] = true
	} else {
		delete(d, key)
	}
}
