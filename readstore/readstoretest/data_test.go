package readstoretest

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/eventbase/eventbase/query"
)

// TestExpectationsMatchQuery checks the suite's hand-written answers against
// the in-memory reference (query.Match, query.CompareDocs, query.Project), so
// the adapters, the realtime hub and the expectations all agree.
func TestExpectationsMatchQuery(t *testing.T) {
	docs := make([]map[string]any, len(products))
	byID := map[string]map[string]any{}
	for i, p := range products {
		docs[i] = mustDoc(t, p)
		byID[docs[i]["_id"].(string)] = docs[i]
	}
	for _, fc := range filterCases {
		e := parse(t, fc.filter)
		got := []string{}
		for _, d := range docs {
			if query.Match(e, d) {
				got = append(got, d["_id"].(string))
			}
		}
		if !slices.Equal(got, fc.want) {
			t.Errorf("Match(%s) selects %v, expectation says %v", fc.filter, got, fc.want)
		}
	}
	for _, sc := range sortCases {
		sort, err := query.ParseSort(sc.sort)
		if err != nil {
			t.Fatal(err)
		}
		e := parse(t, sc.filter)
		var sel []map[string]any
		for _, d := range docs {
			if query.Match(e, d) {
				sel = append(sel, d)
			}
		}
		slices.SortFunc(sel, func(a, b map[string]any) int { return query.CompareDocs(sort, a, b) })
		if sc.limit > 0 && len(sel) > sc.limit {
			sel = sel[:sc.limit]
		}
		got := make([]string, len(sel))
		for i, d := range sel {
			got[i] = d["_id"].(string)
		}
		if !slices.Equal(got, sc.want) {
			t.Errorf("sort %q (filter %s) gives %v, expectation says %v", sc.sort, sc.filter, got, sc.want)
		}
	}
	for _, pc := range projectionCases {
		got := query.Project(byID[pc.id], pc.fields)
		var want map[string]any
		if err := json.Unmarshal([]byte(pc.want), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Project(%s, %v) = %v, expectation says %v", pc.id, pc.fields, got, want)
		}
	}
}
