// Package gcspath reads Cloud Storage locations (bucket names, gs://BUCKET/PREFIX folders)
// for the configuration, the sources that write there and the sandbox alike.
package gcspath

import (
	"fmt"
	"regexp"
	"strings"
)

// bucketRE is a Cloud Storage bucket name: 3 to 222 lower-case letters, digits, -, _ and .,
// starting and ending with a letter or digit.
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$`)

// ValidBucket reports whether name is a Cloud Storage bucket name.
func ValidBucket(name string) bool { return bucketRE.MatchString(name) }

// Folder is a folder of a bucket: gs://Bucket/Prefix.
type Folder struct {
	Bucket string
	// Prefix is the folder's path inside the bucket, without leading or trailing slashes;
	// "" for the top of the bucket.
	Prefix string
}

// String returns the folder as gs://BUCKET[/PREFIX].
func (f Folder) String() string {
	if f.Prefix == "" {
		return "gs://" + f.Bucket
	}
	return "gs://" + f.Bucket + "/" + f.Prefix
}

// Object returns the name, in the bucket, of the object name in the folder.
func (f Folder) Object(name string) string {
	if f.Prefix == "" {
		return name
	}
	return f.Prefix + "/" + name
}

// ParseFolder parses gs://BUCKET or gs://BUCKET/PREFIX (a trailing slash is dropped). The
// prefix's segments are neither empty nor . or .., and hold no line break.
func ParseFolder(s string) (Folder, error) {
	rest, ok := strings.CutPrefix(s, "gs://")
	if !ok {
		return Folder{}, fmt.Errorf("%q is not gs://BUCKET or gs://BUCKET/PREFIX", s)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	prefix = strings.TrimSuffix(prefix, "/")
	if !ValidBucket(bucket) {
		return Folder{}, fmt.Errorf("%q: %q is not a Cloud Storage bucket name", s, bucket)
	}
	if prefix != "" {
		for _, seg := range strings.Split(prefix, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "\r\n") {
				return Folder{}, fmt.Errorf("%q: the prefix %q is not a folder of the bucket (empty, . or .. segments, or line breaks)", s, prefix)
			}
		}
	}
	return Folder{Bucket: bucket, Prefix: prefix}, nil
}
