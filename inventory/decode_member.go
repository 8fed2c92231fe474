package inventory

import (
	"bytes"
	"time"
	"unicode/utf8"
)

// This file holds the fast decoder's cursor: reading values at a position of a record, and
// the members of objects. Objects of one kind (an asset, a resource, a firewall...) are
// nearly always written with the same keys in the same order, and many of their values
// (asset types, parents, networks) repeat from one record to the next. A memberCache
// remembers, for each position in an object of a kind, the key last found there as written,
// and the last string value as written and as decoded; the next object is then matched
// against it with one comparison per key, and a repeated value costs one comparison too.
// Anything that does not match is read in full, and remembered for the next time.

// fastDecoder decodes CAI records in one pass over their bytes, without reflection, into
// the same Asset that encoding/json and decodeAssetReference produce. It handles the
// records CAI writes; for anything else (a syntax error, a wrong type, a duplicate or
// case-folded key, a missing name, a time it cannot read...) it reports failure and the
// caller decodes the record with decodeAssetReference, which then decides and words the
// error. Strings that repeat across assets are shared through an interner.
type fastDecoder struct {
	in    *interner
	buf   []byte    // unquoted strings
	strs  []string  // elements of the string array being read
	binds []Binding // bindings of the policy being read
	box   []string  // strings pointed to by the views (boxStr)
	// The firewall being read: its string lists and its allowed and denied entries,
	// gathered to be allocated together.
	fwStrs  []string
	fwRules []FirewallRule
	fwPorts []span // the ports of fwRules

	caches [numKinds]memberCache
	memo   viewMemo // for the typed views
	// The day of the last update time read, as written and as a time: the update times of
	// an export share a few days.
	day      [len("2006-01-02T")]byte
	dayStart time.Time
	// ancestors as last written, and as decoded
	ancestorsRaw []byte
	ancestors    []string
	// dataTypes, when not nil, are the asset types whose resource data is kept
	// (DecodeOptions.DataTypes).
	dataTypes map[string]bool
	// viewsOnly drops the data of an asset whose shared view was read
	// (DecodeOptions.ViewsOnly).
	viewsOnly bool
}

// boxStr returns a pointer to a copy of s. The copies are allocated a block at a time: a
// view's *string (a metadata value) costs no allocation of its own, and a block stays
// alive only while a pointer into it does.
func (d *fastDecoder) boxStr(s string) *string {
	if len(d.box) == cap(d.box) {
		d.box = make([]string, 0, 64)
	}
	d.box = append(d.box, s)
	return &d.box[len(d.box)-1]
}

// keepsData reports whether the resource data of an asset of type typ is kept; an asset
// whose type is not known yet (its type comes after its resource) keeps it.
func (d *fastDecoder) keepsData(typ string) bool {
	return d.dataTypes == nil || typ == "" || d.dataTypes[typ]
}

// cursor reads the JSON in b from i on.
type cursor struct {
	b []byte
	i int
	d *fastDecoder
	// The member that members is handing to its reader: its kind's cache and its entry
	// there, for memberStr.
	cache *memberCache
	entry int
	// assetName is the name of the asset being read, when it came before its resource:
	// a view's name is usually its last segment (nameStr).
	assetName string
}

// objectKind describes the members of one shape of object: its keys, indexed by the ids
// the decoder switches on.
type objectKind struct {
	keys  []string
	lower []string // the keys in lower case, for the case-folding check
}

func newKind(keys ...string) *objectKind {
	k := &objectKind{keys: keys}
	for _, key := range keys {
		k.lower = append(k.lower, string(bytes.ToLower([]byte(key))))
	}
	return k
}

// Results of memberIter.next besides a key's id.
const (
	memberEnd     = -1 // the closing brace
	memberUnknown = -2 // a key the kind does not have: its value is to be skipped
	memberBad     = -3 // invalid JSON, or a key the fast decoder leaves to encoding/json
)

// lookup returns the id of key, memberUnknown, or memberBad for a key that encoding/json
// would match to one of the kind's keys ignoring case.
func (k *objectKind) lookup(key []byte) int {
	for id, s := range k.keys {
		if string(key) == s {
			return id
		}
	}
	if foldsToAny(key, k.lower...) {
		return memberBad
	}
	return memberUnknown
}

// maxCachedMembers bounds a memberCache; members further down an object are read in full.
const maxCachedMembers = 48

type memberCache struct {
	entries []cachedMember
}

type cachedMember struct {
	key []byte // from the key's opening quote to its colon, as written
	// The first 16 bytes of key, as two words, the second masked to key's length: most
	// keys are compared with two loads.
	w0, w1, mask1 uint64
	id            int
	// The last string value of this member, as written (a complete JSON string without
	// escapes) and as decoded.
	raw   []byte
	value string
}

// setKey remembers key as the key of the member.
func (e *cachedMember) setKey(key []byte) {
	e.key = append(e.key[:0], key...)
	var w [16]byte
	copy(w[:], key)
	e.w0 = load64(w[:], 0)
	e.w1 = load64(w[:], 8)
	e.mask1 = 0
	if n := len(key); n > 8 {
		e.mask1 = ^uint64(0) >> (64 - 8*min(n-8, 8))
	}
	e.raw = e.raw[:0]
}

// matches reports whether the key at b[i:] is e's, as written.
func (e *cachedMember) matches(b []byte, i int) bool {
	n := len(e.key)
	if n == 0 || n > len(b)-i {
		return false
	}
	if n > 16 || i+16 > len(b) {
		return string(b[i:i+n]) == string(e.key)
	}
	if n <= 8 {
		return load64(b, i)&(^uint64(0)>>(64-8*n)) == e.w0
	}
	return load64(b, i) == e.w0 && load64(b, i+8)&e.mask1 == e.w1
}

// memberIter walks the members of one object.
type memberIter struct {
	c     *cursor
	kind  *objectKind
	cache *memberCache
	k     int // the index of the next member
	entry int // the cache entry of the current member, or -1
	seen  uint64
}

// object consumes the opening brace of an object at the cursor and returns an iterator
// over its members; ok is false when there is no object.
func (c *cursor) object(kind int) (it memberIter, ok bool) {
	b := c.b
	i := c.i
	if i >= len(b) || b[i] != '{' {
		if i = skipSpace(b, i); i >= len(b) || b[i] != '{' {
			return it, false
		}
	}
	c.i = i + 1
	return memberIter{c: c, kind: kinds[kind], cache: &c.d.caches[kind], entry: -1}, true
}

// next moves to the next member and returns its key's id, with the cursor on its value;
// memberEnd after the closing brace, memberUnknown for a key the kind does not have,
// memberBad when the object cannot be read (or a key repeats).
func (it *memberIter) next() int {
	c := it.c
	b := c.b
	i := c.i
	k := it.k
	// The usual case, compact JSON and the key remembered: one or two loads to compare.
	if k > 0 && i+1 < len(b) && b[i] == ',' {
		i++
	}
	if k < len(it.cache.entries) && i < len(b) && b[i] == '"' && (k == 0 || i != c.i) {
		e := &it.cache.entries[k]
		if n := len(e.key); n <= 16 && i+16 <= len(b) {
			w0 := load64(b, i)
			if n <= 8 {
				w0 &= ^uint64(0) >> (64 - 8*n)
			}
			if w0 == e.w0 && (n <= 8 || load64(b, i+8)&e.mask1 == e.w1) {
				i += n
				if i < len(b) && b[i] > ' ' {
					return it.found(k, e.id, i)
				}
			}
		}
	}
	return it.nextSlow()
}

// found records that member k has key id and its value starts at or after i.
func (it *memberIter) found(k, id, i int) int {
	c := it.c
	if i >= len(c.b) || c.b[i] <= ' ' {
		i = skipSpace(c.b, i)
	}
	c.i = i
	it.k = k + 1
	it.entry = k
	if id >= 0 {
		bit := uint64(1) << (uint(id) & 63)
		if it.seen&bit != 0 {
			return memberBad // a repeated key: encoding/json merges or overwrites
		}
		it.seen |= bit
	}
	return id
}

// nextSlow is next for white space, the end of the object, and keys not remembered.
func (it *memberIter) nextSlow() int {
	c := it.c
	b := c.b
	i := c.i
	if i >= len(b) || b[i] <= ' ' {
		if i = skipSpace(b, i); i >= len(b) {
			return memberBad
		}
	}
	if b[i] == '}' {
		c.i = i + 1
		return memberEnd
	}
	if it.k > 0 {
		if b[i] != ',' {
			return memberBad
		}
		if i++; i >= len(b) || b[i] <= ' ' {
			if i = skipSpace(b, i); i >= len(b) {
				return memberBad
			}
		}
	}
	if b[i] != '"' {
		return memberBad
	}
	k := it.k
	if entries := it.cache.entries; k < len(entries) && entries[k].matches(b, i) {
		return it.found(k, entries[k].id, i+len(entries[k].key))
	}
	end, special := stringEnd(b, i+1)
	if end < 0 || special {
		return memberBad // keys with escapes or bytes above 0x7F are left to encoding/json
	}
	j := end + 1
	if j >= len(b) || b[j] != ':' {
		if j = skipSpace(b, j); j >= len(b) || b[j] != ':' {
			return memberBad
		}
	}
	id := it.kind.lookup(b[i+1 : end])
	if id == memberBad {
		return memberBad
	}
	if k < maxCachedMembers && k <= len(it.cache.entries) {
		if k == len(it.cache.entries) {
			it.cache.entries = append(it.cache.entries, cachedMember{})
		}
		e := &it.cache.entries[k]
		e.setKey(b[i : j+1])
		e.id = id
		return it.found(k, id, j+1)
	}
	id = it.found(k, id, j+1)
	it.entry = -1
	return id
}

// str reads the member's value, a string (or null) that often repeats from one object of
// the kind to the next.
func (it *memberIter) str() (string, bool) {
	return it.c.cachedStr(it.cache, it.entry)
}

// memberStr is memberIter.str for the member that members is handing to its reader.
func (c *cursor) memberStr() (string, bool) {
	return c.cachedStr(c.cache, c.entry)
}

// cachedStr reads a string (or null) at the cursor, the value of the member of cache's
// kind whose entry is given (-1: none), remembering it there: the next object of the kind
// often has the same.
func (c *cursor) cachedStr(cache *memberCache, entry int) (string, bool) {
	if entry < 0 {
		return c.str()
	}
	e := &cache.entries[entry]
	b := c.b
	i := c.i
	if n := len(e.raw); n > 0 && n <= len(b)-i && string(b[i:i+n]) == string(e.raw) {
		c.i = i + n
		return e.value, true
	}
	s, ok := c.strBytes()
	if !ok {
		return "", false
	}
	v := c.d.in.str(s)
	if b[i] == '"' { // not null
		e.raw = append(e.raw[:0], b[i:c.i]...)
		e.value = v
	}
	return v, true
}

// null consumes a null at the cursor, if there is one.
func (c *cursor) null() bool {
	i := c.i
	if i+4 <= len(c.b) && c.b[i] == 'n' && c.b[i+1] == 'u' && c.b[i+2] == 'l' && c.b[i+3] == 'l' {
		c.i += 4
		return true
	}
	return false
}

// skip validates and passes over the value at the cursor.
func (c *cursor) skip() bool {
	c.i = skipValue(c.b, c.i)
	return c.i >= 0
}

// strBytes reads a string value, or null as an empty string. The result may be the
// decoder's scratch buffer: convert it before reading the next string.
func (c *cursor) strBytes() ([]byte, bool) {
	b := c.b
	i := c.i
	if i >= len(b) {
		return nil, false
	}
	if b[i] != '"' {
		return nil, c.null()
	}
	end, special := stringEnd(b, i+1)
	if end < 0 {
		return nil, false
	}
	s := b[i+1 : end]
	c.i = end + 1
	if special && (bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s)) {
		c.d.buf = unquote(s, c.d.buf)
		s = c.d.buf
	}
	return s, true
}

// str reads a string value (or null) that may repeat across assets.
func (c *cursor) str() (string, bool) {
	s, ok := c.strBytes()
	return c.d.in.str(s), ok
}

// uniqueStr reads a string value (or null) that is unlikely to repeat.
func (c *cursor) uniqueStr() (string, bool) {
	s, ok := c.strBytes()
	return string(s), ok
}

// nameStr reads a resource's name: the end of the asset's name when it is that (a
// firewall "allow-ssh" of the asset ".../firewalls/allow-ssh"), shared instead of copied,
// and otherwise a string of its own.
func (c *cursor) nameStr() (string, bool) {
	s, ok := c.strBytes()
	if !ok {
		return "", false
	}
	n := c.assetName
	if tail := len(n) - len(s); tail > 0 && n[tail-1] == '/' && n[tail:] == string(s) {
		return n[tail:], true
	}
	return string(s), true
}

// shortStr reads a string that is often one of a few values (a label or metadata value:
// "prod", "TRUE"), through the interner when it is short, and unshared otherwise.
func (c *cursor) shortStr() (string, bool) {
	s, ok := c.strBytes()
	if !ok {
		return "", false
	}
	if len(s) <= shortMaxLen {
		return c.d.in.str(s), true
	}
	return string(s), true
}

// shortMaxLen is the longest string shortStr interns.
const shortMaxLen = 32

// strs reads an array of strings, or null as nil. A null element is an empty string.
func (c *cursor) strs() ([]string, bool) {
	scratch := c.d.strs[:0]
	set, ok := c.elements(func() bool {
		s, ok := c.str()
		scratch = append(scratch, s)
		return ok
	})
	var out []string
	if set && ok {
		out = make([]string, len(scratch))
		copy(out, scratch)
	}
	clear(scratch)
	c.d.strs = scratch[:0]
	return out, ok
}

// span locates a list gathered in a scratch slice; set is false for null (a nil list).
type span struct {
	start, end int
	set        bool
}

// strsInto reads an array of strings, or null, appending the strings to *dst.
func (c *cursor) strsInto(dst *[]string) (span, bool) {
	sp := span{start: len(*dst)}
	var ok bool
	sp.set, ok = c.elements(func() bool {
		s, ok := c.str()
		*dst = append(*dst, s)
		return ok
	})
	sp.end = len(*dst)
	return sp, ok
}

// list returns the part of arena sp locates, with no room to grow into its neighbours, or
// nil for null.
func (sp span) list(arena []string) []string {
	if !sp.set {
		return nil
	}
	return arena[sp.start:sp.end:sp.end]
}

// arrayNext moves to the next element of an array whose opening bracket (first) or
// previous element has been read; more is false at the closing bracket, which it consumes.
func (c *cursor) arrayNext(first bool) (more, ok bool) {
	b := c.b
	i := c.i
	if i >= len(b) || b[i] <= ' ' {
		if i = skipSpace(b, i); i >= len(b) {
			return false, false
		}
	}
	if b[i] == ']' {
		c.i = i + 1
		return false, true
	}
	if !first {
		if b[i] != ',' {
			return false, false
		}
		if i++; i >= len(b) || b[i] <= ' ' {
			i = skipSpace(b, i)
		}
	}
	c.i = i
	return true, true
}

// int reads an integer value (or null as 0) that encoding/json would store in an int.
func (c *cursor) int() (int64, bool) {
	if c.null() {
		return 0, true
	}
	end := numberEnd(c.b, c.i)
	if end < 0 {
		return 0, false
	}
	n, ok := parseInt(c.b[c.i:end])
	c.i = end
	return n, ok
}

// boolean reads true, false or null (as false).
func (c *cursor) boolean() (v, ok bool) {
	b := c.b
	i := c.i
	switch {
	case i+4 <= len(b) && b[i] == 't' && b[i+1] == 'r' && b[i+2] == 'u' && b[i+3] == 'e':
		c.i += 4
		return true, true
	case i+5 <= len(b) && b[i] == 'f' && b[i+1] == 'a' && b[i+2] == 'l' && b[i+3] == 's' && b[i+4] == 'e':
		c.i += 5
		return false, true
	}
	return false, c.null()
}

// timeZ is parseTimeZ with the day remembered from one call to the next.
func (d *fastDecoder) timeZ(s []byte) (time.Time, bool) {
	if len(s) < len(d.day) || d.dayStart.IsZero() || string(s[:len(d.day)]) != string(d.day[:]) {
		year, month, day, ok := parseDate(s)
		if !ok {
			return time.Time{}, false
		}
		copy(d.day[:], s)
		d.dayStart = time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	}
	clock, ok := parseClockZ(s)
	if !ok {
		return time.Time{}, false
	}
	return d.dayStart.Add(clock), true
}

// timeStamp holds an update time as read, before the key styles are reconciled.
type timeStamp struct {
	set   bool // a non-empty string was read
	valid bool
	t     time.Time
}

func (c *cursor) timeStamp() (timeStamp, bool) {
	s, ok := c.strBytes()
	if !ok || len(s) == 0 {
		return timeStamp{}, ok
	}
	if t, ok := c.d.timeZ(s); ok {
		return timeStamp{set: true, valid: true, t: t}, true
	}
	t, err := time.Parse(time.RFC3339Nano, string(s))
	return timeStamp{set: true, valid: err == nil, t: t}, true
}

// members reads an object of the given kind at the cursor: read is called with the id of
// each member whose key the kind has, the cursor on its value (c.memberStr reads a string
// value that repeats), and reports whether it could read the value; other members are
// skipped. members reports whether the object was
// read whole.
func (c *cursor) members(kind int, read func(id int) bool) bool {
	it, ok := c.object(kind)
	if !ok {
		return false
	}
	cache := &c.d.caches[kind] // it.cache, but taken from it the cursor would escape
	for {
		switch id := it.next(); id {
		case memberEnd:
			return true
		case memberUnknown:
			ok = c.skip()
		default:
			c.cache, c.entry = cache, it.entry
			ok = id >= 0 && read(id)
		}
		if !ok {
			return false
		}
	}
}

// elements reads an array at the cursor, or null (set is false): read is called with the
// cursor on each element and reports whether it could read it. ok reports whether the
// array was read whole.
func (c *cursor) elements(read func() bool) (set, ok bool) {
	if c.null() {
		return false, true
	}
	if c.i >= len(c.b) || c.b[c.i] != '[' {
		return false, false
	}
	c.i++
	for firstItem := true; ; firstItem = false {
		more, ok := c.arrayNext(firstItem)
		if !ok {
			return false, false
		}
		if !more {
			return true, true
		}
		if !read() {
			return false, false
		}
	}
}
