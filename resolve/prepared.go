package resolve

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/wundergraph/astjson"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astnormalization"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astvalidation"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/operationreport"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/variablesvalidation"
)

// Defaults of the prepared-operation cache (Options.MaxPreparedOperations and
// MaxPreparedBytes).
const (
	DefaultMaxPreparedOperations = 4096
	DefaultMaxPreparedBytes      = 32 << 20
)

// preparedEntry is what a repeated request needs of an operation it sent before, keyed by
// the raw text and operation name: parsing, normalization, validation, the limits and
// planning all ran on the first request and need not run again.
type preparedEntry struct {
	key uint64
	// query and opName are the raw request's, compared on a hit so that a hash collision
	// cannot serve another operation.
	query, opName string
	name          string
	kind          OperationKind
	plan          *cachedPlan
	// stage1 is the normalized operation before variable extraction, kept for operations
	// that declare variables: each request re-parses it and runs the variable
	// normalization and validation on its own variables (defaults, list coercion, input
	// defaults), which depend on the values.
	stage1 string
	// static are the variables of an operation that declares none: the literal values the
	// normalizer extracted, the same for every request.
	static []byte
	// apq marks an entry that maps a persisted query's hash (key) to its text (query).
	apq  bool
	size int
	// constant is the result of an operation whose result cannot change (see
	// Engine.Execute), stored by the first request that resolved it.
	constant atomic.Pointer[[]byte]

	prev, next *preparedEntry // LRU list, most recent first
}

// preparedCache is an LRU of preparedEntry bounded by entries and bytes. One engine owns
// one, so a reload (a new engine) starts with an empty cache: nothing prepared against
// the old schema is served for the new one.
type preparedCache struct {
	mu         sync.Mutex
	entries    map[uint64]*preparedEntry
	head, tail *preparedEntry
	bytes      int
	maxEntries int
	maxBytes   int
	stats      *Stats
}

func newPreparedCache(maxEntries, maxBytes int, stats *Stats) *preparedCache {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxPreparedOperations
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxPreparedBytes
	}
	return &preparedCache{entries: make(map[uint64]*preparedEntry), maxEntries: maxEntries, maxBytes: maxBytes, stats: stats}
}

// entryOverhead approximates what an entry holds beyond its strings (the entry, its map
// slot and its share of the plan).
const entryOverhead = 512

func rawKey(query, opName string) uint64 {
	d := xxhash.New()
	_, _ = d.WriteString(query)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(opName)
	return d.Sum64()
}

func apqKey(hash string) uint64 { return xxhash.Sum64String("\x00apq\x00" + hash) }

func (c *preparedCache) get(key uint64, query, opName string) *preparedEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil || e.apq || e.query != query || e.opName != opName {
		return nil
	}
	c.moveToFront(e)
	return e
}

// persisted returns the text registered for an APQ hash (lower-case hex SHA-256).
func (c *preparedCache) persisted(hash string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[apqKey(hash)]
	if e == nil || !e.apq || e.opName != hash {
		return "", false
	}
	c.moveToFront(e)
	return e.query, true
}

func (c *preparedCache) registerPersisted(hash, query string) {
	c.put(&preparedEntry{key: apqKey(hash), query: query, opName: hash, apq: true})
}

func (c *preparedCache) put(e *preparedEntry) {
	e.size = entryOverhead + len(e.query) + len(e.opName) + len(e.stage1) + len(e.static)
	if e.plan != nil {
		// the entry keeps its plan alive even after the plan cache let it go
		e.size += int(planCost(e.plan.normalized))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.size > c.maxBytes {
		return
	}
	if old := c.entries[e.key]; old != nil {
		c.unlink(old)
	}
	c.entries[e.key] = e
	c.bytes += e.size
	e.next = c.head
	if c.head != nil {
		c.head.prev = e
	}
	c.head = e
	if c.tail == nil {
		c.tail = e
	}
	for len(c.entries) > c.maxEntries || c.bytes > c.maxBytes {
		c.unlink(c.tail)
		c.stats.PreparedEvictions.Add(1)
	}
}

func (c *preparedCache) unlink(e *preparedEntry) {
	delete(c.entries, e.key)
	c.bytes -= e.size
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (c *preparedCache) moveToFront(e *preparedEntry) {
	if c.head == e {
		return
	}
	e.prev.next = e.next
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = nil, c.head
	c.head.prev = e
	c.head = e
}

// len is the number of entries (operations and persisted-query hashes).
func (c *preparedCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// variablesKit is the per-request machinery of an operation with variables, pooled: the
// normalizer's walkers and the parser cost more to build than to run on a small document.
// A new operation text also uses stage1 and opValidator (built on first use): building
// them per operation was ~100 KiB of garbage, which for clients with a distinct text each
// (literal arguments per user) set the heap's peak, and so the RSS, of a burst of
// subscriptions.
type variablesKit struct {
	doc         *ast.Document
	parser      *astparser.Parser
	normalizer  *astnormalization.OperationNormalizer
	validator   *variablesvalidation.VariablesValidator
	report      operationreport.Report
	stage1      *astnormalization.OperationNormalizer
	opValidator *astvalidation.OperationValidator
}

func (k *variablesKit) stage1Normalizer() *astnormalization.OperationNormalizer {
	if k.stage1 == nil {
		k.stage1 = newStage1Normalizer()
	}
	return k.stage1
}

func (k *variablesKit) operationValidator() *astvalidation.OperationValidator {
	if k.opValidator == nil {
		k.opValidator = astvalidation.DefaultOperationValidator()
	}
	return k.opValidator
}

// Each pipeline has its own pool: a kit that ran against one schema keeps state that
// breaks it for another (seen as wrong subscription groups after a reload).
func newVariablesKit() any {
	return &variablesKit{
		doc:        ast.NewSmallDocument(),
		parser:     astparser.NewParser(),
		normalizer: newVariablesNormalizer(),
		validator:  variablesvalidation.NewVariablesValidator(variablesvalidation.VariablesValidatorOptions{}),
	}
}

// newStage1Normalizer normalizes what does not depend on variable values: the selected
// operation alone, fragments inlined, @skip/@include with literal conditions applied.
func newStage1Normalizer() *astnormalization.OperationNormalizer {
	return astnormalization.NewWithOpts(
		astnormalization.WithRemoveNotMatchingOperationDefinitions(),
		astnormalization.WithRemoveFragmentDefinitions(),
		astnormalization.WithInlineFragmentSpreads(),
	)
}

// newVariablesNormalizer completes a stage-1 document for one request's variables:
// literal arguments become variables, unused variables go, defaults and list coercion
// apply to the values. The document it leaves does not depend on the values.
func newVariablesNormalizer() *astnormalization.OperationNormalizer {
	return astnormalization.NewWithOpts(
		astnormalization.WithRemoveNotMatchingOperationDefinitions(),
		astnormalization.WithExtractVariables(),
		astnormalization.WithRemoveFragmentDefinitions(),
		astnormalization.WithInlineFragmentSpreads(),
		astnormalization.WithRemoveUnusedVariables(),
	)
}

// normalizeVariables parses stage1 into kit.doc and normalizes it with variables; the
// document and kit.doc.Input.Variables are valid until the kit goes back to the pool.
func (k *variablesKit) normalizeVariables(p *pipeline, stage1, name string, variables []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = internalError("normalizing the operation's variables", r)
		}
	}()
	k.doc.Reset()
	k.report.Reset()
	k.doc.Input.ResetInputString(stage1)
	k.parser.Parse(k.doc, &k.report)
	if k.report.HasErrors() {
		return reportError(&k.report, http.StatusInternalServerError)
	}
	k.doc.Input.Variables = append(k.doc.Input.Variables[:0], variables...)
	k.normalizer.NormalizeNamedOperation(k.doc, p.definition, []byte(name), &k.report)
	if k.report.HasErrors() {
		return reportError(&k.report, http.StatusBadRequest)
	}
	return nil
}

// operation is the Operation of a request that hit e.
func (e *preparedEntry) operation(p *pipeline, req *Request, variables []byte) (*Operation, error) {
	vars := e.static
	if e.stage1 != "" {
		k := p.kits.Get().(*variablesKit)
		defer p.kits.Put(k)
		if err := k.normalizeVariables(p, e.stage1, e.name, variables); err != nil {
			return nil, err
		}
		if err := validateVariablesWith(k.validator, k.doc, p.clientDefinition, k.doc.Input.Variables); err != nil {
			return nil, err
		}
		vars = append([]byte(nil), k.doc.Input.Variables...)
	}
	return newOperation(e, req, vars), nil
}

// persistedQuery reads an automatic persisted query's hash from a request's extensions
// (Apollo's {"persistedQuery":{"version":1,"sha256Hash":"<hex>"}}); ok is false when
// there is none.
func persistedQuery(extensions []byte) (hash string, ok bool, err error) {
	if len(extensions) == 0 {
		return "", false, nil
	}
	v, perr := astjson.ParseBytes(extensions)
	if perr != nil {
		return "", false, nil // the transports check extensions is an object
	}
	pq := v.Get("persistedQuery")
	if pq == nil || pq.Type() == astjson.TypeNull {
		return "", false, nil
	}
	if ver := pq.Get("version"); ver != nil && ver.GetInt() != 1 {
		return "", false, persistedError("PERSISTED_QUERY_VERSION_NOT_SUPPORTED", "persisted query version not supported: only version 1 is", http.StatusBadRequest)
	}
	h := pq.GetStringBytes("sha256Hash")
	if len(h) != sha256.Size*2 {
		return "", false, persistedError("PERSISTED_QUERY_HASH_INVALID", "extensions.persistedQuery.sha256Hash must be a SHA-256 hash in hexadecimal", http.StatusBadRequest)
	}
	if _, err := hex.DecodeString(string(h)); err != nil {
		return "", false, persistedError("PERSISTED_QUERY_HASH_INVALID", "extensions.persistedQuery.sha256Hash must be a SHA-256 hash in hexadecimal", http.StatusBadRequest)
	}
	return toLowerHex(h), true, nil
}

func toLowerHex(h []byte) string {
	b := make([]byte, len(h))
	for i, c := range h {
		if c >= 'A' && c <= 'F' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return string(b)
}

// persistedError is an APQ error as Apollo clients expect it: the code in
// extensions.code (their persisted-queries link retries with the full text on
// PERSISTED_QUERY_NOT_FOUND).
func persistedError(code, msg string, status int) *RequestError {
	return &RequestError{Errors: []GraphQLError{{Message: msg, Extensions: map[string]any{"code": code}}}, Status: status}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
