package sandbox

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// diffContext is the number of unchanged lines around a change in a hunk, as git shows.
const diffContext = 3

// maxDiffCells bounds the line-diff table; past it a file diffs as removed then added.
const maxDiffCells = 4_000_000

type diffOp struct {
	kind byte // ' ', '-' or '+'
	text string
}

// splitLines splits b into lines without their newline; noEOL reports a last line without
// one.
func splitLines(b []byte) (lines []string, noEOL bool) {
	if len(b) == 0 {
		return nil, false
	}
	s := string(b)
	noEOL = !strings.HasSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n"), noEOL
}

// diffLines is a longest-common-subsequence line diff.
func diffLines(a, b []string) []diffOp {
	n, m := len(a), len(b)
	if n*m > maxDiffCells {
		ops := make([]diffOp, 0, n+m)
		for _, l := range a {
			ops = append(ops, diffOp{'-', l})
		}
		for _, l := range b {
			ops = append(ops, diffOp{'+', l})
		}
		return ops
	}
	w := m + 1
	lcs := make([]int32, (n+1)*w)
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
			} else {
				lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
			}
		}
	}
	ops := make([]diffOp, 0, n+m)
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i]})
			i++
			j++
		case lcs[(i+1)*w+j] >= lcs[i*w+j+1]:
			ops = append(ops, diffOp{'-', a[i]})
			i++
		default:
			ops = append(ops, diffOp{'+', b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		ops = append(ops, diffOp{'-', a[i]})
	}
	for ; j < m; j++ {
		ops = append(ops, diffOp{'+', b[j]})
	}
	return ops
}

// unifiedDiff renders the hunks of a change from a to b as GitHub's "patch" field shows
// them (no file header), with the counts of added and removed lines. Binary content
// (holding a NUL byte) has no patch.
func unifiedDiff(a, b []byte) (string, int, int) {
	if bytes.IndexByte(a, 0) >= 0 || bytes.IndexByte(b, 0) >= 0 {
		return "", 0, 0
	}
	al, aNoEOL := splitLines(a)
	bl, bNoEOL := splitLines(b)
	ops := diffLines(al, bl)
	// Line numbers before each op.
	aAt := make([]int, len(ops)+1)
	bAt := make([]int, len(ops)+1)
	adds, dels := 0, 0
	for k, op := range ops {
		aAt[k+1], bAt[k+1] = aAt[k], bAt[k]
		if op.kind != '+' {
			aAt[k+1]++
		}
		if op.kind != '-' {
			bAt[k+1]++
		}
		switch op.kind {
		case '+':
			adds++
		case '-':
			dels++
		}
	}
	var out strings.Builder
	for k := 0; k < len(ops); {
		for k < len(ops) && ops[k].kind == ' ' {
			k++
		}
		if k == len(ops) {
			break
		}
		start := max(0, k-diffContext)
		end := k
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := 0
			for end+run < len(ops) && ops[end+run].kind == ' ' {
				run++
			}
			if end+run == len(ops) || run > 2*diffContext {
				break
			}
			end += run
		}
		stop := min(len(ops), end+diffContext)
		aStart, aLen := aAt[start], aAt[stop]-aAt[start]
		bStart, bLen := bAt[start], bAt[stop]-bAt[start]
		if aLen > 0 {
			aStart++
		}
		if bLen > 0 {
			bStart++
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
		for i := start; i < stop; i++ {
			op := ops[i]
			out.WriteByte(op.kind)
			out.WriteString(op.text)
			out.WriteByte('\n')
			lastA := op.kind != '+' && aAt[i+1] == len(al)
			lastB := op.kind != '-' && bAt[i+1] == len(bl)
			if (lastA && aNoEOL && op.kind == '-') || (lastB && bNoEOL && op.kind == '+') ||
				(op.kind == ' ' && lastA && aNoEOL) {
				out.WriteString("\\ No newline at end of file\n")
			}
		}
		k = stop
	}
	return strings.TrimSuffix(out.String(), "\n"), adds, dels
}

func hunkRange(start, n int) string {
	if n == 1 {
		return strconv.Itoa(start)
	}
	return strconv.Itoa(start) + "," + strconv.Itoa(n)
}

// verifyAppJWT checks a GitHub App JWT: RS256, signed by the App's key, issued by the App,
// not expired.
func verifyAppJWT(tok string, app *GitHubApp, now time.Time) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return fmt.Errorf("JWT header: %w", err)
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(hb, &header); err != nil || header.Alg != "RS256" {
		return errors.New("JWT is not RS256")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("JWT signature: %w", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(app.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("JWT signature: %w", err)
	}
	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("JWT claims: %w", err)
	}
	var claims struct {
		Iss json.RawMessage `json:"iss"`
		Exp int64           `json:"exp"`
	}
	if err := json.Unmarshal(cb, &claims); err != nil {
		return fmt.Errorf("JWT claims: %w", err)
	}
	iss := strings.Trim(string(claims.Iss), `"`)
	if iss != strconv.FormatInt(app.ID, 10) {
		return errors.New("JWT issuer is not the App")
	}
	if claims.Exp <= now.Unix() {
		return errors.New("JWT expired")
	}
	return nil
}
