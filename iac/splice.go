package iac

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// This file edits source bytes in place: every edit replaces one byte range found from the
// hclsyntax ranges, and only the text of the edited expression (a list, an object, an
// inserted attribute or block) is formatted, by hclwrite's formatter. hclwrite has no API
// for editing inside list and object expressions (hashicorp/hcl#695), and File.Bytes after
// an edit re-formats more than the edit, so the edits are spliced rather than made through
// an hclwrite.File. Everything else in the file is kept byte for byte.

// edit replaces src[start:end] with text.
type edit struct {
	start, end int
	text       string
}

// editor collects the edits of one file.
type editor struct {
	f     *srcFile
	edits []edit
}

func (e *editor) replace(start, end int, text string) {
	e.edits = append(e.edits, edit{start, end, text})
}

// apply returns the edited file; edits must not overlap.
func (e *editor) apply() ([]byte, error) {
	es := slices.Clone(e.edits)
	slices.SortStableFunc(es, func(a, b edit) int { return a.start - b.start })
	var out bytes.Buffer
	at := 0
	for _, x := range es {
		if x.start < at || x.end < x.start || x.end > len(e.f.src) {
			return nil, errors.New("iac: internal error: overlapping edits")
		}
		out.Write(e.f.src[at:x.start])
		out.WriteString(x.text)
		at = x.end
	}
	out.Write(e.f.src[at:])
	return out.Bytes(), nil
}

func lineStart(src []byte, off int) int {
	return bytes.LastIndexByte(src[:off], '\n') + 1
}

// lineEnd returns the offset just past the newline ending the line that holds off.
func lineEnd(src []byte, off int) int {
	if i := bytes.IndexByte(src[off:], '\n'); i >= 0 {
		return off + i + 1
	}
	return len(src)
}

func indentOf(src []byte, off int) string {
	ls := lineStart(src, off)
	i := ls
	for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
		i++
	}
	return string(src[ls:i])
}

// onlySpaceBefore reports whether only spaces and tabs precede off on its line.
func onlySpaceBefore(src []byte, off int) bool {
	return len(bytes.Trim(src[lineStart(src, off):off], " \t")) == 0
}

func blankLine(src []byte, ls int) bool {
	if ls >= len(src) {
		return false
	}
	return len(bytes.TrimSpace(src[ls:lineEnd(src, ls)])) == 0
}

func commentLine(src []byte, ls int) bool {
	t := bytes.TrimSpace(src[ls:lineEnd(src, ls)])
	return bytes.HasPrefix(t, []byte("#")) || bytes.HasPrefix(t, []byte("//")) ||
		(bytes.HasPrefix(t, []byte("/*")) && bytes.HasSuffix(t, []byte("*/")))
}

// tail reads what follows an item on its line: spaces, an optional comma, an optional
// comment. clean is true when nothing else follows before the newline; end is then just
// past the newline.
func tail(src []byte, off int) (end int, comma, clean bool) {
	i := off
	skip := func() {
		for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\r') {
			i++
		}
	}
	skip()
	if i < len(src) && src[i] == ',' {
		comma = true
		i++
		skip()
	}
	switch {
	case bytes.HasPrefix(src[i:], []byte("#")), bytes.HasPrefix(src[i:], []byte("//")):
		return lineEnd(src, i), comma, true
	case bytes.HasPrefix(src[i:], []byte("/*")):
		j := bytes.Index(src[i:], []byte("*/"))
		if j < 0 || bytes.IndexByte(src[i:i+j], '\n') >= 0 {
			return i, comma, false
		}
		i += j + 2
		skip()
	}
	if i == len(src) {
		return i, comma, true
	}
	if src[i] == '\n' {
		return i + 1, comma, true
	}
	return i, comma, false
}

// leadStart extends a line upward over the comment lines directly above it (no blank line
// between), not above limit.
func leadStart(src []byte, ls, limit int) int {
	for ls > limit {
		prev := lineStart(src, ls-1)
		if prev < limit || !commentLine(src, prev) {
			break
		}
		ls = prev
	}
	return ls
}

// seqItem is an element of a tuple or an item of an object, as a byte range.
type seqItem struct{ start, end int }

// seqEdit describes changes to a tuple or object constructor.
type seqEdit struct {
	remove   map[int]bool
	override map[int]string // new text of an item (between start and end)
	insertAt int            // position, in the original item order, of the inserted items
	insert   []string
	tuple    bool // a tuple needs commas between elements; an object does not
}

// rewriteSeq returns the new text of the constructor spanning src[open:close+1] (open is
// its "[" or "{", close its "]" or "}"). A constructor laid out one item per line keeps its
// lines, comments and blank lines; one written on a single line is rebuilt on one line.
func rewriteSeq(src []byte, open, close int, items []seqItem, op seqEdit) string {
	text := func(i int) string {
		if t, ok := op.override[i]; ok {
			return t
		}
		return string(src[items[i].start:items[i].end])
	}
	openCh, closeCh := string(src[open]), string(src[close])
	var order []string // the items of the result, as text
	for i := range items {
		if i == op.insertAt {
			order = append(order, op.insert...)
		}
		if !op.remove[i] {
			order = append(order, text(i))
		}
	}
	if op.insertAt >= len(items) {
		order = append(order, op.insert...)
	}
	if len(order) == 0 {
		return openCh + closeCh
	}

	firstEnd, _, openClean := tail(src, open+1)
	multi := openClean && onlySpaceBefore(src, close) && len(items) > 0
	type region struct{ start, end int }
	regions := make([]region, len(items))
	comma := make([]bool, len(items))
	prev := firstEnd
	for i, it := range items {
		end, c, clean := tail(src, it.end)
		if !clean || !onlySpaceBefore(src, it.start) || it.start < prev {
			multi = false
			break
		}
		regions[i] = region{leadStart(src, lineStart(src, it.start), prev), end}
		if !onlyTrivia(src[prev:regions[i].start]) {
			multi = false // a comma on a line of its own: the layout is not one item a line
			break
		}
		comma[i] = c
		prev = end
	}
	if !multi {
		sep := ", "
		if openCh == "{" {
			return "{ " + strings.Join(order, sep) + " }"
		}
		return openCh + strings.Join(order, sep) + closeCh
	}

	indent := indentOf(src, items[0].start)
	type piece struct {
		text, rest string // an item's text is text + rest, with a comma between when needed
		gap        bool   // blank lines and free comments between items
		item       bool
		needComma  bool
	}
	var pieces []piece
	newItem := func(t string) piece {
		if op.tuple {
			t += ","
		}
		return piece{text: indent + t + "\n", item: true}
	}
	at := firstEnd
	for i := range items {
		pieces = append(pieces, piece{text: string(src[at:regions[i].start]), gap: true})
		if i == op.insertAt {
			for _, t := range op.insert {
				pieces = append(pieces, newItem(t))
			}
		}
		if !op.remove[i] {
			pieces = append(pieces, piece{
				text:      string(src[regions[i].start:items[i].start]) + text(i),
				rest:      string(src[items[i].end:regions[i].end]),
				item:      true,
				needComma: op.tuple && !comma[i],
			})
		}
		at = regions[i].end
	}
	if op.insertAt >= len(items) {
		for _, t := range op.insert {
			pieces = append(pieces, newItem(t))
		}
	}
	lastItem := -1
	for i, p := range pieces {
		if p.item {
			lastItem = i
		}
	}
	for i := range pieces {
		if pieces[i].needComma && i != lastItem {
			pieces[i].text += ","
		}
		pieces[i].text += pieces[i].rest
	}
	finalGap := string(src[at:close])
	// Drop gaps left empty-handed: blank gaps at the start, at the end and after another gap.
	var out []piece
	for _, p := range pieces {
		if p.gap && strings.TrimSpace(p.text) == "" && p.text != "" {
			if len(out) == 0 || out[len(out)-1].gap {
				continue
			}
		}
		out = append(out, p)
	}
	for len(out) > 0 && out[len(out)-1].gap && strings.TrimSpace(out[len(out)-1].text) == "" {
		out = out[:len(out)-1]
	}
	var b strings.Builder
	b.Write(src[open:firstEnd])
	for _, p := range out {
		b.WriteString(p.text)
	}
	// Keep the indentation of the closing bracket, dropping blank lines before it.
	b.WriteString(strings.TrimLeft(finalGap, "\r\n"))
	b.WriteString(closeCh)
	return b.String()
}

// tupleItems returns a tuple's elements as byte ranges.
func tupleItems(t *hclsyntax.TupleConsExpr) []seqItem {
	out := make([]seqItem, len(t.Exprs))
	for i, e := range t.Exprs {
		r := e.Range()
		out[i] = seqItem{r.Start.Byte, r.End.Byte}
	}
	return out
}

// objectItems returns an object's items (key through value) as byte ranges.
func objectItems(o *hclsyntax.ObjectConsExpr) []seqItem {
	out := make([]seqItem, len(o.Items))
	for i, it := range o.Items {
		out[i] = seqItem{it.KeyExpr.Range().Start.Byte, it.ValueExpr.Range().End.Byte}
	}
	return out
}

// bounds returns a constructor's opening and closing bracket offsets.
func bounds(src []byte, r hcl.Range) (open, close int, err error) {
	open, close = r.Start.Byte, r.End.Byte-1
	if open < 0 || close >= len(src) || close <= open {
		return 0, 0, errors.New("iac: internal error: bad constructor range")
	}
	return open, close, nil
}

// fmtExpr formats the new text of an edited expression with hclwrite, exactly as terraform
// fmt would format it, and nothing else: the expression's first line continues a line
// indented by indent ("name = " or "[" precede it there), and its other lines are indented
// from there. Only the expression's own text is formatted; the rest of the file keeps its
// bytes. Text with a heredoc is returned as it is, since re-indenting would change it.
func fmtExpr(text, indent string) string {
	if hasHeredoc(text) {
		return text
	}
	const lead = "x = "
	out := string(hclwrite.Format([]byte(lead + text)))
	out, ok := strings.CutPrefix(out, lead)
	if !ok {
		return text
	}
	return indentLines(out, indent, true)
}

// fmtBlock formats a block's text (which starts at column 0) with hclwrite and indents every
// line.
func fmtBlock(text, indent string) string {
	out := text
	if !hasHeredoc(text) {
		out = string(hclwrite.Format([]byte(text)))
	}
	return indentLines(strings.TrimRight(out, "\n"), indent, false) + "\n"
}

// indentLines prefixes the non-empty lines of text with indent (all but the first when
// skipFirst).
func indentLines(text, indent string, skipFirst bool) string {
	lines := strings.Split(text, "\n")
	for i := range lines {
		if lines[i] != "" && (i > 0 || !skipFirst) {
			lines[i] = indent + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}

func hasHeredoc(text string) bool {
	toks, _ := hclsyntax.LexConfig([]byte(text), "", hcl.InitialPos)
	for _, t := range toks {
		if t.Type == hclsyntax.TokenOHeredoc {
			return true
		}
	}
	return false
}

func bracketChange(t hclsyntax.TokenType) int {
	switch t {
	case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenTemplateControl, hclsyntax.TokenTemplateInterp:
		return 1
	case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenTemplateSeqEnd:
		return -1
	}
	return 0
}

// removeRegion returns the byte range that removing the construct at src[start:end] (a
// block, an attribute) should delete, and the text to put in its place: its lines go, with
// the comment lines directly above it (not above limit), and the blank lines around it
// collapse to one, so no double blank line is left behind (none at the start or end of the
// file).
func removeRegion(src []byte, start, end, limit int) (rs, re int, repl string) {
	rs, re = start, end
	if onlySpaceBefore(src, start) {
		rs = leadStart(src, lineStart(src, start), limit)
	}
	if e, _, clean := tail(src, end); clean {
		re = e
	}
	if rs != lineStart(src, rs) || (re != len(src) && re != lineStart(src, re)) {
		return rs, re, "" // part of a line: remove just the construct
	}
	blanks := false
	for rs > limit && rs > 0 && blankLine(src, lineStart(src, rs-1)) {
		rs = lineStart(src, rs-1)
		blanks = true
	}
	for re < len(src) && blankLine(src, re) {
		re = lineEnd(src, re)
		blanks = true
	}
	if blanks && rs > 0 && re < len(src) && rs > limit {
		repl = "\n"
	}
	// Never leave the enclosing body's closing line preceded by a blank line it did not have.
	if re < len(src) && rs > 0 && repl != "" {
		next := bytes.TrimSpace(src[re:lineEnd(src, re)])
		prev := bytes.TrimSpace(src[lineStart(src, rs-1):rs])
		if bytes.HasPrefix(next, []byte("}")) || bytes.HasSuffix(prev, []byte("{")) {
			repl = ""
		}
	}
	return rs, re, repl
}

// insertAttr adds "name = value" to a block body after its last attribute, as its own
// alignment group (a blank line above it), so terraform fmt has nothing to realign.
func insertAttr(ed *editor, b *hclsyntax.Block, name, value string) error {
	src := ed.f.src
	var last *hclsyntax.Attribute
	for _, a := range b.Body.Attributes {
		if last == nil || a.SrcRange.End.Byte > last.SrcRange.End.Byte {
			last = a
		}
	}
	closeLS := lineStart(src, b.CloseBraceRange.Start.Byte)
	if !onlySpaceBefore(src, b.CloseBraceRange.Start.Byte) {
		return fmt.Errorf("iac: the %s block at %s:%d is written on one line; edit it by hand", b.Type, ed.f.path, b.TypeRange.Start.Line)
	}
	var pos int
	var indent, text string
	if last != nil {
		pos = lineEnd(src, last.SrcRange.End.Byte)
		indent = indentOf(src, last.NameRange.Start.Byte)
		text = "\n"
	} else {
		pos = lineEnd(src, b.OpenBraceRange.End.Byte)
		indent = indentOf(src, b.TypeRange.Start.Byte) + "  "
	}
	if pos > closeLS {
		return fmt.Errorf("iac: the %s block at %s:%d is written on one line; edit it by hand", b.Type, ed.f.path, b.TypeRange.Start.Line)
	}
	text += indent + name + " = " + fmtExpr(value, indent) + "\n"
	if pos < closeLS && !blankLine(src, pos) {
		text += "\n"
	}
	ed.replace(pos, pos, text)
	return nil
}

// setAttr sets an attribute of a block body: its expression is replaced, or it is added.
func setAttr(ed *editor, b *hclsyntax.Block, name, value string) error {
	if a := b.Body.Attributes[name]; a != nil {
		r := a.Expr.Range()
		ed.replace(r.Start.Byte, r.End.Byte, fmtExpr(value, indentOf(ed.f.src, a.NameRange.Start.Byte)))
		return nil
	}
	return insertAttr(ed, b, name, value)
}

// insertNestedBlock adds a nested block (text at column 0) at the end of a block body,
// after a blank line.
func insertNestedBlock(ed *editor, b *hclsyntax.Block, text string) error {
	src := ed.f.src
	if !onlySpaceBefore(src, b.CloseBraceRange.Start.Byte) {
		return fmt.Errorf("iac: the %s block at %s:%d is written on one line; edit it by hand", b.Type, ed.f.path, b.TypeRange.Start.Line)
	}
	closeLS := lineStart(src, b.CloseBraceRange.Start.Byte)
	indent := indentOf(src, b.TypeRange.Start.Byte) + "  "
	out := fmtBlock(text, indent)
	prevLS := lineStart(src, max(closeLS-1, 0))
	if !blankLine(src, prevLS) && prevLS > lineStart(src, b.OpenBraceRange.Start.Byte) {
		out = "\n" + out
	}
	ed.replace(closeLS, closeLS, out)
	return nil
}

// removeBlock deletes a block, with its lead comments and a blank line around it.
func removeBlock(ed *editor, b *hclsyntax.Block, limit int) {
	r := b.Range()
	rs, re, repl := removeRegion(ed.f.src, r.Start.Byte, r.End.Byte, limit)
	ed.replace(rs, re, repl)
}

// insertBlockAfter adds a top-level block (text at column 0) after the block b, separated
// by a blank line.
func insertBlockAfter(ed *editor, b *hclsyntax.Block, text string) {
	src := ed.f.src
	end := b.Range().End.Byte
	pos := end
	if e, _, clean := tail(src, end); clean {
		pos = e
	}
	out := "\n" + fmtBlock(text, indentOf(src, b.TypeRange.Start.Byte))
	if pos == len(src) && (len(src) == 0 || src[len(src)-1] != '\n') {
		out = "\n" + out
	}
	if pos < len(src) && !blankLine(src, pos) {
		out += "\n"
	}
	ed.replace(pos, pos, out)
}

// onlyTrivia reports whether b holds nothing but white space, newlines and comments.
func onlyTrivia(b []byte) bool {
	toks, diags := hclsyntax.LexConfig(b, "", hcl.InitialPos)
	if diags.HasErrors() {
		return false
	}
	for _, t := range toks {
		if t.Type != hclsyntax.TokenComment && t.Type != hclsyntax.TokenNewline && t.Type != hclsyntax.TokenEOF {
			return false
		}
	}
	return true
}
