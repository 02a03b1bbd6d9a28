package sse

import (
	"encoding/json"
	"fmt"
	"testing"
)

// scanBody and unquote must read every body as encoding/json reads it.
func TestScanBody_MatchesEncodingJSON(t *testing.T) {
	bodies := []string{
		`{"query":"{ a }"}`,
		` { "query" : "{ a }" , "operationName" : null , "variables" : { "x" : [1, {"y": "}"}] } } `,
		`{"operationName":"Op","query":"query Op($id: Int!) {\n  employee(id: $id) { id }\n}","variables":{"id":1},"extensions":{"persistedQuery":{"version":1,"sha256Hash":"abc"}}}`,
		`{"query":"é \u00e9 \ud83d\ude00 \" \\ \/ \b \f \r \t \u0041","extra":[{"query":"not this"}],"n":-1.5e3,"t":true}`,
		`{"query":"first","query":"last"}`,
		`{"query":"\ud800 lone surrogate"}`,
		"{\"query\":\"bad utf8 \xff here\"}",
		`{"query":1,"operationName":[]}`,
		`{}`,
	}
	for _, body := range bodies {
		var want struct {
			Query         json.RawMessage `json:"query"`
			OperationName json.RawMessage `json:"operationName"`
			Variables     json.RawMessage `json:"variables"`
			Extensions    json.RawMessage `json:"extensions"`
		}
		if err := json.Unmarshal([]byte(body), &want); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		got := scanBody([]byte(body))
		for _, c := range []struct {
			name      string
			got, want []byte
		}{{"query", got.query, want.Query}, {"operationName", got.operationName, want.OperationName}, {"variables", got.variables, want.Variables}, {"extensions", got.extensions, want.Extensions}} {
			if string(c.got) != string(c.want) {
				t.Errorf("%s: %s = %s, want %s", body, c.name, c.got, c.want)
			}
		}
		var wantQuery string
		wantErr := json.Unmarshal(want.Query, &wantQuery)
		if len(want.Query) == 0 {
			continue
		}
		gotQuery, ok := unquote(got.query)
		if ok != (wantErr == nil) || gotQuery != wantQuery {
			t.Errorf("%s: unquote = %q, %v; want %q, %v", body, gotQuery, ok, wantQuery, wantErr)
		}
	}
}

func BenchmarkReadBody(b *testing.B) {
	body := []byte(`{"operationName":"Op","query":"query Op($id: Int!) { employee(id: $id) { id name } }","variables":{"id":1}}`)
	b.ReportAllocs()
	for b.Loop() {
		if !json.Valid(body) {
			b.Fatal("invalid")
		}
		f := scanBody(body)
		if _, ok := unquote(f.query); !ok {
			b.Fatal("no query")
		}
	}
}

func TestAcceptMemo_SameAsNegotiateAndBounded(t *testing.T) {
	var m acceptMemo
	for _, accept := range [][]string{
		{"text/event-stream"}, {"application/graphql-response+json, application/json;q=0.9"},
		{"multipart/mixed;subscriptionSpec=\"1.0\", application/json"}, {"*/*"}, {"a/b", "text/event-stream"}, nil,
	} {
		for range 2 { // the second time from the memo
			if got, want := m.negotiate(accept), negotiate(accept); got != want {
				t.Errorf("%q: memo %+v, negotiate %+v", accept, got, want)
			}
		}
	}
	for i := range acceptMemoSize * 2 {
		m.negotiate([]string{fmt.Sprintf("application/x-%d", i)})
	}
	if n := len(m.seen); n != acceptMemoSize {
		t.Errorf("memo holds %d values, want the bound %d", n, acceptMemoSize)
	}
}
