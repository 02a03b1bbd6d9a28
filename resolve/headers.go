package resolve

import (
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// HeaderRule forwards client request headers to subgraphs (SPEC section 2, `headers`).
type HeaderRule struct {
	// Op is "propagate" (copy a client header) or "set" (a static value).
	Op string
	// Named propagates the header with this name; Matching propagates every header whose
	// name matches. Exactly one is set for propagate.
	Named    string
	Matching *regexp.Regexp
	// Rename sends a propagated header (Named only) under another name.
	Rename string
	// Default is sent for Named when the client did not send it.
	Default string
	// Name and Value are the header that "set" sends.
	Name  string
	Value string
}

// HeaderRules apply to every subgraph (All) and per subgraph name.
type HeaderRules struct {
	All       []HeaderRule
	Subgraphs map[string][]HeaderRule
}

// hopHeaders are never forwarded: they describe the client connection, not the request.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Host": true,
	"Content-Length": true, "Content-Type": true, "Accept": true, "Accept-Encoding": true,
	"Sec-Websocket-Key": true, "Sec-Websocket-Version": true, "Sec-Websocket-Extensions": true,
	"Sec-Websocket-Protocol": true, "Last-Event-Id": true,
}

// forwardedHeaders are the headers one client's request sends to each subgraph. It
// implements the engine's SubgraphHeadersBuilder.
type forwardedHeaders struct {
	client   http.Header
	perGraph map[string]http.Header
	hashes   map[string]uint64
	allHash  uint64
	hasRules bool
}

// noForwardedHeaders is the forwardedHeaders of groups that keep no client headers.
var noForwardedHeaders = &forwardedHeaders{}

func (r *HeaderRules) empty() bool {
	return r == nil || (len(r.All) == 0 && len(r.Subgraphs) == 0)
}

// forward computes the headers for every subgraph in subgraphs.
func (r *HeaderRules) forward(client http.Header, subgraphs []string) *forwardedHeaders {
	fh := &forwardedHeaders{client: client}
	if r.empty() {
		return fh
	}
	fh.hasRules = true
	fh.perGraph = make(map[string]http.Header, len(subgraphs))
	fh.hashes = make(map[string]uint64, len(subgraphs))
	all := xxhash.New()
	for _, sg := range subgraphs {
		h := http.Header{}
		apply(h, client, r.All)
		apply(h, client, r.Subgraphs[sg])
		fh.perGraph[sg] = h
		sum := hashHeader(h)
		fh.hashes[sg] = sum
		_, _ = all.WriteString(sg)
		var b [8]byte
		for i := 0; i < 8; i++ {
			b[i] = byte(sum >> (8 * i))
		}
		_, _ = all.Write(b[:])
	}
	fh.allHash = all.Sum64()
	return fh
}

func apply(dst, client http.Header, rules []HeaderRule) {
	for _, rule := range rules {
		switch rule.Op {
		case "set":
			if rule.Name != "" {
				dst.Set(rule.Name, rule.Value)
			}
		default:
			if rule.Named != "" {
				name := http.CanonicalHeaderKey(rule.Named)
				values := client.Values(name)
				to := name
				if rule.Rename != "" {
					to = rule.Rename
				}
				if len(values) == 0 && rule.Default != "" {
					dst.Set(to, rule.Default)
					continue
				}
				for _, v := range values {
					dst.Add(to, v)
				}
				continue
			}
			if rule.Matching != nil {
				for name, values := range client {
					if hopHeaders[http.CanonicalHeaderKey(name)] || !rule.Matching.MatchString(name) {
						continue
					}
					for _, v := range values {
						dst.Add(name, v)
					}
				}
			}
		}
	}
}

func hashHeader(h http.Header) uint64 {
	if len(h) == 0 {
		return 0
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	d := xxhash.New()
	for _, k := range keys {
		_, _ = d.WriteString(strings.ToLower(k))
		_, _ = d.Write([]byte{0})
		for _, v := range h[k] {
			_, _ = d.WriteString(v)
			_, _ = d.Write([]byte{1})
		}
	}
	return d.Sum64()
}

// HeadersForSubgraph returns a copy of the headers forwarded to subgraphName: the
// engine's HTTP client makes the map it gets its request's header and adds Accept,
// Content-Type and Accept-Encoding to it, so a shared map would grow by those on every
// request of a long-lived group (and two fetches of one request would write it at once).
func (f *forwardedHeaders) HeadersForSubgraph(subgraphName string) (http.Header, uint64) {
	h, hash := f.shared(subgraphName)
	return h.Clone(), hash
}

// shared is HeadersForSubgraph without the copy, for callers in this package that only
// read the map (the entity loader copies it per request itself).
func (f *forwardedHeaders) shared(subgraphName string) (http.Header, uint64) {
	if f == nil || !f.hasRules {
		return nil, 0
	}
	return f.perGraph[subgraphName], f.hashes[subgraphName]
}

func (f *forwardedHeaders) HashAll() uint64 {
	if f == nil {
		return 0
	}
	return f.allHash
}
