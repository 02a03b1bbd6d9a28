package resolve

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// wireRequest is what a subgraph sees of a request: everything but the order of the
// header lines.
type wireRequest struct {
	method, target, proto, body string
	header                      []string
}

// The loader's own HTTP/1.1 client puts on the wire what net/http does for the same
// `_entities` request (method, target, body, every header), and the subscribers get the
// same answers.
func TestEntityPost_SameRequestAsNetHTTP(t *testing.T) {
	run := func(netHTTP bool) ([]string, []wireRequest) {
		var mu sync.Mutex
		var seen []wireRequest
		env := newBatchEnv(t, 50*time.Millisecond, func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if bytes.Contains(body, []byte("_entities")) {
					w := wireRequest{method: r.Method, target: r.RequestURI, proto: r.Proto, body: string(body)}
					w.header = append(w.header, "Host: "+r.Host)
					for k, vs := range r.Header {
						w.header = append(w.header, k+": "+strings.Join(vs, ","))
					}
					slices.Sort(w.header)
					mu.Lock()
					seen = append(seen, w)
					mu.Unlock()
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
				next.ServeHTTP(w, r)
			})
		})
		if env.e.hub.entities.netHTTP {
			t.Fatal("the engine's default client does not take the loader's own client")
		}
		// before the first subscription interns the target
		env.e.hub.entities.netHTTP = netHTTP
		// one group: one request, the same in both runs
		got := env.run(t, 1, func(i int) int { return 3 })
		for _, target := range env.e.hub.entities.targets {
			if (target.post != nil) == netHTTP {
				t.Fatalf("net/http %v, but the target's h1post path is %v", netHTTP, target.post)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return got, seen
	}
	gotPost, reqPost := run(false)
	gotNet, reqNet := run(true)
	if !slices.Equal(gotPost, gotNet) {
		t.Fatalf("answers differ:\n h1post  %v\n net/http %v", gotPost, gotNet)
	}
	if len(reqPost) == 0 || len(reqPost) != len(reqNet) {
		t.Fatalf("%d requests through h1post, %d through net/http", len(reqPost), len(reqNet))
	}
	for i := range reqPost {
		p, n := reqPost[i], reqNet[i]
		// the hosts differ by the test server's port
		p.header, n.header = withoutHost(p.header), withoutHost(n.header)
		if fmt.Sprint(p) != fmt.Sprint(n) {
			t.Errorf("request %d:\n h1post   %+v\n net/http %+v", i, p, n)
		}
	}
	t.Logf("%+v", reqPost[0])
}

func withoutHost(h []string) []string {
	return slices.DeleteFunc(slices.Clone(h), func(s string) bool { return strings.HasPrefix(s, "Host: ") })
}
