package sandbox

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"sort"
	"strconv"
)

// pageOf returns the page of items (sorted by key) that follows token, at most size items,
// and the token of the next page ("" on the last page). A token is the key of the last item
// of the previous page, so pages stay consistent when items are added or removed between
// calls.
func pageOf[T any](items []T, key func(T) string, size int, token string) ([]T, string, *apiError) {
	start := 0
	if token != "" {
		after, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", errInvalid(fmt.Sprintf("Invalid value for field 'pageToken': '%s'.", token))
		}
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) > string(after) })
	}
	end := min(start+size, len(items))
	page := items[start:end]
	next := ""
	if end < len(items) && len(page) > 0 {
		next = base64.RawURLEncoding.EncodeToString([]byte(key(page[len(page)-1])))
	}
	return page, next, nil
}

// pageSize reads an optional page size parameter: def when absent or zero, an error when
// it is not a number or is above max.
func pageSize(q url.Values, param string, def, limit int) (int, *apiError) {
	v := q.Get(param)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errInvalid(fmt.Sprintf("Invalid value for field '%s': '%s'. Must be a non-negative integer.", param, v))
	}
	if n > limit {
		return 0, errInvalid(fmt.Sprintf("Invalid value for field '%s': '%s'. Must be less than or equal to %d", param, v, limit))
	}
	if n == 0 {
		return def, nil
	}
	return n, nil
}
