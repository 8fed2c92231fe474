package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
)

const (
	keySA   = "ci@p1.iam.gserviceaccount.com"
	keyID   = "0123456789abcdef0123456789abcdef01234567"
	keyPath = "projects/p1/serviceAccounts/" + keySA + "/keys/" + keyID
)

// keyAsset builds a service account key asset; validAfter is written when not zero.
func keyAsset(keyType string, disabled bool, validAfter time.Time) *inventory.Asset {
	va := ""
	if !validAfter.IsZero() {
		va = fmt.Sprintf(`,"validAfterTime":%q,"validBeforeTime":"9999-12-31T23:59:59Z"`, validAfter.Format(time.RFC3339))
	}
	data := fmt.Sprintf(`{"name":%q,"keyType":%q,"keyOrigin":"GOOGLE_PROVIDED","keyAlgorithm":"KEY_ALG_RSA_2048","disabled":%v%s}`,
		keyPath, keyType, disabled, va)
	return resourceAsset(inventory.TypeServiceAccountKey, "//iam.googleapis.com/"+keyPath, data)
}

func TestSAUserManagedKey(t *testing.T) {
	r := ruleByID(t, "sa-user-managed-key")
	created := testNow.AddDate(0, 0, -10)

	f := onlyFinding(t, evaluate(t, r, testEnv(), keyAsset("USER_MANAGED", false, created)))
	want := `{"keyId":"` + keyID + `","keyOrigin":"GOOGLE_PROVIDED","serviceAccount":"` + keySA + `","validAfterTime":"2026-10-22T12:00:00Z"}`
	if got := jsonOf(t, f.Evidence); got != want {
		t.Errorf("evidence\n got %s\nwant %s", got, want)
	}
	if f.Category != "USER_MANAGED_SERVICE_ACCOUNT_KEY" || f.Severity != SeverityMedium || f.Project != "p1" {
		t.Errorf("finding %s %s in %q", f.Category, f.Severity, f.Project)
	}

	// The key name stands in from the asset name when the data lacks it.
	noName := resourceAsset(inventory.TypeServiceAccountKey, "//iam.googleapis.com/"+keyPath, `{"keyType":"USER_MANAGED"}`)
	g := onlyFinding(t, evaluate(t, r, testEnv(), noName))
	if g.Evidence["serviceAccount"] != keySA || g.Evidence["keyId"] != keyID || g.Evidence["validAfterTime"] != "" {
		t.Errorf("evidence from the asset name: %s", jsonOf(t, g.Evidence))
	}
	if g.ID != f.ID {
		t.Errorf("same key, different IDs: %s and %s", f.ID, g.ID)
	}

	for name, a := range map[string]*inventory.Asset{
		"system-managed key":     keyAsset("SYSTEM_MANAGED", false, created),
		"disabled user key":      keyAsset("USER_MANAGED", true, created),
		"key type unknown":       keyAsset("", false, created),
		"IAM policy only":        {Name: "//iam.googleapis.com/" + keyPath, AssetType: inventory.TypeServiceAccountKey},
		"empty resource data":    resourceAsset(inventory.TypeServiceAccountKey, "//iam.googleapis.com/"+keyPath, ""),
		"garbled name, not ours": resourceAsset(inventory.TypeServiceAccountKey, "x", `{"name":"x","keyType":"SYSTEM_MANAGED"}`),
	} {
		t.Run(name, func(t *testing.T) { noResults(t, evaluate(t, r, testEnv(), a)) })
	}
}

func TestSAKeyNotRotated(t *testing.T) {
	r := ruleByID(t, "sa-key-not-rotated")
	maxAge := testEnv().KeyMaxAge
	cases := []struct {
		name    string
		asset   *inventory.Asset
		ageDays int // -1 when no finding
	}{
		{"a year old", keyAsset("USER_MANAGED", false, testNow.AddDate(-1, 0, 0)), 365},
		{"one second past the limit", keyAsset("USER_MANAGED", false, testNow.Add(-maxAge-time.Second)), 90},
		{"exactly at the limit", keyAsset("USER_MANAGED", false, testNow.Add(-maxAge)), -1},
		{"one second short of the limit", keyAsset("USER_MANAGED", false, testNow.Add(-maxAge+time.Second)), -1},
		{"fresh", keyAsset("USER_MANAGED", false, testNow.AddDate(0, 0, -1)), -1},
		{"from the future", keyAsset("USER_MANAGED", false, testNow.AddDate(0, 0, 1)), -1},
		{"no validAfterTime", keyAsset("USER_MANAGED", false, time.Time{}), -1},
		{"old but disabled", keyAsset("USER_MANAGED", true, testNow.AddDate(-1, 0, 0)), -1},
		{"old but system-managed", keyAsset("SYSTEM_MANAGED", false, testNow.AddDate(-1, 0, 0)), -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := evaluate(t, r, testEnv(), tc.asset)
			if tc.ageDays < 0 {
				noResults(t, out)
				return
			}
			f := onlyFinding(t, out)
			if f.Category != "SERVICE_ACCOUNT_KEY_NOT_ROTATED" || f.Severity != SeverityMedium {
				t.Errorf("finding %s %s", f.Category, f.Severity)
			}
			if f.Evidence["ageDays"] != tc.ageDays || f.Evidence["maxAgeDays"] != 90 || f.Evidence["serviceAccount"] != keySA ||
				f.Evidence["keyId"] != keyID || f.Evidence["keyOrigin"] != "GOOGLE_PROVIDED" || f.Evidence["validAfterTime"] == "" {
				t.Errorf("evidence %s, want ageDays %d", jsonOf(t, f.Evidence), tc.ageDays)
			}
		})
	}

	t.Run("a custom maximum age", func(t *testing.T) {
		env := testEnv()
		env.KeyMaxAge = 7 * 24 * time.Hour
		f := onlyFinding(t, evaluate(t, r, env, keyAsset("USER_MANAGED", false, testNow.AddDate(0, 0, -10))))
		if f.Evidence["ageDays"] != 10 || f.Evidence["maxAgeDays"] != 7 {
			t.Errorf("evidence %s", jsonOf(t, f.Evidence))
		}
	})
	t.Run("the ID does not move as the key ages", func(t *testing.T) {
		a := keyAsset("USER_MANAGED", false, testNow.AddDate(-1, 0, 0))
		first := onlyFinding(t, evaluate(t, r, testEnv(), a)).ID
		later := DefaultEnv(testNow.AddDate(0, 1, 0))
		if again := onlyFinding(t, evaluate(t, r, later, a)).ID; again != first {
			t.Errorf("ID %s a month later, was %s", again, first)
		}
	})
	t.Run("no maximum age configured", func(t *testing.T) {
		a := keyAsset("USER_MANAGED", false, testNow.AddDate(-1, 0, 0))
		errorNames(t, r.Evaluate(&Env{Now: testNow}, a, &Results{}), a)
	})
}

func TestSAKeyRulesErrors(t *testing.T) {
	for _, id := range []string{"sa-user-managed-key", "sa-key-not-rotated"} {
		r := ruleByID(t, id)
		for name, a := range map[string]*inventory.Asset{
			"not json":    resourceAsset(inventory.TypeServiceAccountKey, "//iam.googleapis.com/"+keyPath, `{"keyType":`),
			"bad time":    resourceAsset(inventory.TypeServiceAccountKey, "//iam.googleapis.com/"+keyPath, `{"keyType":"USER_MANAGED","validAfterTime":"yesterday"}`),
			"no key name": resourceAsset(inventory.TypeServiceAccountKey, "//iam.googleapis.com/projects/p1/keys/x", `{"keyType":"USER_MANAGED","validAfterTime":"2020-01-01T00:00:00Z"}`),
			"wrong type":  networkAsset("default", `{"name":"default"}`),
		} {
			t.Run(id+"/"+name, func(t *testing.T) {
				var out Results
				errorNames(t, r.Evaluate(testEnv(), a, &out), a)
				noResults(t, out)
			})
		}
	}
}

func TestParseKeyName(t *testing.T) {
	sa, id, ok := ParseKeyName(keyPath)
	if !ok || sa != keySA || id != keyID {
		t.Errorf("ParseKeyName(%q) = %q, %q, %v", keyPath, sa, id, ok)
	}
	for _, bad := range []string{"", "projects/p1/serviceAccounts/x/keys/", "projects/p1/serviceAccounts/x", "projects/p1/serviceAccounts/x/keys/1/extra",
		"folders/p1/serviceAccounts/x/keys/1"} {
		if _, _, ok := ParseKeyName(bad); ok {
			t.Errorf("ParseKeyName(%q) accepted", bad)
		}
	}
}
