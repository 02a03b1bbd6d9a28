package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astnormalization"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astprinter"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astvalidation"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/postprocess"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/operationreport"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/variablesvalidation"

	"github.com/edgate/edgate/internal/telemetry"
	"github.com/edgate/edgate/resolve/internal/oplimit"
)

// preparedOperation is the per-request result of the pipeline: the cached plan plus this
// request's variables.
type preparedOperation struct {
	plan *cachedPlan
	// variables are the request's variables merged with those the normalizer extracted
	// from inline values.
	variables []byte
	// engine prepared the operation (set by Reloader, which routes it back there).
	engine *Engine
	// entry is the prepared-cache entry the operation came from.
	entry *preparedEntry
}

// cachedPlan is shared by every request with the same normalized operation text.
type cachedPlan struct {
	key  uint64 // hash of the normalized operation text and name
	kind OperationKind
	// normalized is the printed normalized operation, kept for logs and group keys.
	normalized string
	plan       plan.Plan
	// sub is what the hub derived from a subscription plan (hub.subPlan), made by its
	// first group; nil before.
	sub atomic.Pointer[subPlan]
}

// pipeline turns request text into plans for one schema.
type pipeline struct {
	definition       *ast.Document
	clientDefinition *ast.Document
	config           plan.Configuration
	cache            *planCache
	prepared         *preparedCache
	kits             sync.Pool // *variablesKit
	stats            *Stats
	maxQueryBytes    int
	limits           OperationLimits
	// budget bounds the time from the start of preparation to the start of each step; 0:
	// none.
	budget time.Duration
	// planSem serializes planning (a channel, so that a request whose client left stops
	// waiting): plan.Planner instances are not reused (their path cache is never reset),
	// and the planner reads shared configuration that is cheaper to protect than to copy.
	planSem chan struct{}
	metrics *telemetry.Metrics
}

func (p *pipeline) observePlanning(start time.Time) { p.metrics.ObservePlanning(time.Since(start)) }

// prepare serves a request from the prepared cache, or prepares it (prepareNew) and
// caches the result.
func (p *pipeline) prepare(ctx context.Context, req *Request) (*Operation, error) {
	variables := bytes.TrimSpace(req.Variables)
	if len(variables) == 0 || bytes.Equal(variables, []byte("null")) {
		variables = []byte("{}")
	}
	if variables[0] != '{' || !json.Valid(variables) {
		return nil, NewRequestError("\"variables\" must be a JSON object")
	}
	apqHash, isAPQ, err := persistedQuery(req.Extensions)
	if err != nil {
		return nil, err
	}
	if isAPQ {
		if req.Query == "" {
			q, ok := p.prepared.persisted(apqHash)
			if !ok {
				return nil, persistedError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound", http.StatusOK)
			}
			r := *req
			r.Query = q
			req = &r
		} else if sha256Hex(req.Query) != apqHash {
			return nil, persistedError("PERSISTED_QUERY_HASH_MISMATCH", "provided sha does not match query", http.StatusBadRequest)
		}
	}

	key := rawKey(req.Query, req.OperationName)
	if e := p.prepared.get(key, req.Query, req.OperationName); e != nil {
		p.stats.PreparedHits.Add(1)
		return e.operation(p, req, variables)
	}
	p.stats.PreparedMisses.Add(1)
	e, vars, err := p.prepareNew(ctx, req, variables)
	if err != nil {
		return nil, err
	}
	e.key = key
	p.prepared.put(e)
	if isAPQ {
		p.prepared.registerPersisted(apqHash, req.Query)
	}
	return newOperation(e, req, vars), nil
}

// newOperation returns the Operation of req prepared as e, in one allocation with its
// preparedOperation.
func newOperation(e *preparedEntry, req *Request, variables []byte) *Operation {
	both := &struct {
		op Operation
		p  preparedOperation
	}{
		op: Operation{Kind: e.kind, Name: e.name, Request: req},
		p:  preparedOperation{plan: e.plan, variables: variables, entry: e},
	}
	both.op.prepared = &both.p
	return &both.op
}

// prepareNew runs the whole pipeline for an operation the prepared cache does not hold:
// limits, parse, normalize, validate, plan. None of the steps can be interrupted (the
// operation limits keep each short), so ctx and the budget are checked before each. It
// returns the cache entry (without its key) and this request's variables.
func (p *pipeline) prepareNew(ctx context.Context, req *Request, variables []byte) (*preparedEntry, []byte, error) {
	start := time.Now()
	check := func() error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("prepare operation: %w", err)
		}
		if p.budget > 0 && time.Since(start) > p.budget {
			return budgetError(p.budget)
		}
		return nil
	}
	if strings.TrimSpace(req.Query) == "" {
		return nil, nil, NewRequestError("a GraphQL request must contain a non-empty \"query\"")
	}
	if p.maxQueryBytes > 0 && len(req.Query) > p.maxQueryBytes {
		return nil, nil, NewRequestError(fmt.Sprintf("query is %d bytes, more than the limit of %d", len(req.Query), p.maxQueryBytes))
	}
	// Before the parser: normalization is quadratic in the operation's size and cannot be
	// stopped, so only operations known to be small reach it. A cache hit passed this
	// check when it was prepared.
	if err := oplimit.Check(req.Query, p.limits); err != nil {
		return nil, nil, limitError(err)
	}

	if err := check(); err != nil {
		return nil, nil, err
	}
	doc, report := astparser.ParseGraphqlDocumentString(req.Query)
	if report.HasErrors() {
		return nil, nil, reportError(&report, http.StatusBadRequest)
	}
	name, kind, err := selectOperation(&doc, req.OperationName)
	if err != nil {
		return nil, nil, err
	}

	// The kit goes back to the pool only when every step succeeded: a step that failed
	// (or panicked) may have left its walkers in a state nobody has tested reusing.
	k := p.kits.Get().(*variablesKit)
	reuse := false
	defer func() {
		if reuse {
			p.kits.Put(k)
		}
	}()

	// Stage 1 is what every request with this text shares; it is printed and re-parsed so
	// that a hit and a miss run the variable stage on the same document.
	if err := check(); err != nil {
		return nil, nil, err
	}
	doc.Input.Variables = []byte("{}")
	if err := p.normalize(&doc, k.stage1Normalizer(), name); err != nil {
		return nil, nil, err
	}
	stage1, err := astprinter.PrintString(&doc)
	if err != nil {
		return nil, nil, fmt.Errorf("print normalized operation: %w", err)
	}
	declares := declaresVariables(&doc)
	if !declares {
		// nothing can refer to the request's variables: the operation's own (extracted
		// literals) are the same for every request
		variables = []byte("{}")
	}

	if err := check(); err != nil {
		return nil, nil, err
	}
	if err := k.normalizeVariables(p, stage1, name, variables); err != nil {
		return nil, nil, err
	}
	norm := k.doc
	if err := check(); err != nil {
		return nil, nil, err
	}
	if err := p.validate(k.operationValidator(), norm); err != nil {
		return nil, nil, err
	}
	if err := checkSubscriptionRoot(norm); err != nil {
		return nil, nil, err
	}
	vars := append([]byte(nil), norm.Input.Variables...)
	if len(vars) == 0 {
		vars = []byte("{}")
	}
	if err := validateVariablesWith(k.validator, norm, p.clientDefinition, vars); err != nil {
		return nil, nil, err
	}

	printed, err := astprinter.PrintString(norm)
	if err != nil {
		return nil, nil, fmt.Errorf("print normalized operation: %w", err)
	}
	h := xxhash.New()
	_, _ = h.WriteString(printed)
	_, _ = h.Write([]byte{0})
	_, _ = h.WriteString(name)
	planKey := h.Sum64()

	cp, ok := p.cache.get(planKey)
	if !ok {
		if err := check(); err != nil {
			return nil, nil, err
		}
		pl, err := p.plan(ctx, norm, name)
		if err != nil {
			return nil, nil, err
		}
		cp = &cachedPlan{key: planKey, kind: kind, normalized: printed, plan: pl}
		p.cache.put(cp)
		// The plan keeps pointing into the document it was built from: the kit gives
		// that document away and starts a new one.
		k.doc = ast.NewSmallDocument()
	}
	reuse = true
	e := &preparedEntry{query: req.Query, opName: req.OperationName, name: name, kind: kind, plan: cp}
	if declares {
		e.stage1 = stage1
	} else {
		e.static = vars
	}
	return e, vars, nil
}

// declaresVariables reports whether the (single, stage-1 normalized) operation in doc
// declares variables.
func declaresVariables(doc *ast.Document) bool {
	for _, node := range doc.RootNodes {
		if node.Kind == ast.NodeKindOperationDefinition && doc.OperationDefinitions[node.Ref].HasVariableDefinitions {
			return true
		}
	}
	return false
}

func selectOperation(doc *ast.Document, requested string) (string, OperationKind, error) {
	var (
		found bool
		name  string
		kind  OperationKind
		count int
	)
	for _, node := range doc.RootNodes {
		if node.Kind != ast.NodeKindOperationDefinition {
			continue
		}
		count++
		n := doc.OperationDefinitionNameString(node.Ref)
		if requested != "" && n != requested {
			continue
		}
		if found && requested == "" {
			return "", 0, NewRequestError("the document contains several operations: \"operationName\" is required")
		}
		found = true
		name = n
		switch doc.OperationDefinitions[node.Ref].OperationType {
		case ast.OperationTypeMutation:
			kind = Mutation
		case ast.OperationTypeSubscription:
			kind = Subscription
		default:
			kind = Query
		}
	}
	if !found {
		if requested != "" {
			return "", 0, NewRequestError(fmt.Sprintf("operation %q not found in the document", requested))
		}
		if count == 0 {
			return "", 0, NewRequestError("the document contains no operation")
		}
	}
	return name, kind, nil
}

func (p *pipeline) normalize(doc *ast.Document, normalizer *astnormalization.OperationNormalizer, name string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = internalError("normalizing the operation", r)
		}
	}()
	var report operationreport.Report
	normalizer.NormalizeNamedOperation(doc, p.definition, []byte(name), &report)
	if report.HasErrors() {
		return reportError(&report, http.StatusBadRequest)
	}
	return nil
}

// internalError reports a panic of the GraphQL library while doing what as a 500.
func internalError(what string, r any) *RequestError {
	return &RequestError{Errors: []GraphQLError{{Message: fmt.Sprintf("internal error while %s: %v", what, r)}}, Status: http.StatusInternalServerError}
}

func (p *pipeline) validate(v *astvalidation.OperationValidator, doc *ast.Document) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &RequestError{Errors: []GraphQLError{{Message: fmt.Sprintf("internal error while validating the operation: %v", r)}}, Status: http.StatusInternalServerError}
		}
	}()
	var report operationreport.Report
	v.Validate(doc, p.clientDefinition, &report)
	if report.HasErrors() {
		return reportError(&report, http.StatusBadRequest)
	}
	return nil
}

func validateVariablesWith(v *variablesvalidation.VariablesValidator, doc, definition *ast.Document, variables []byte) error {
	if err := v.Validate(doc, definition, variables); err != nil {
		var report operationreport.Report
		if errors.As(err, &report) {
			return reportError(&report, http.StatusBadRequest)
		}
		return NewRequestError(err.Error())
	}
	return nil
}

func (p *pipeline) plan(ctx context.Context, doc *ast.Document, name string) (pl plan.Plan, err error) {
	select {
	case p.planSem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("plan operation: %w", ctx.Err())
	}
	defer func() { <-p.planSem }()
	defer p.observePlanning(time.Now())
	defer func() {
		if r := recover(); r != nil {
			err = &RequestError{Errors: []GraphQLError{{Message: fmt.Sprintf("internal error while planning the operation: %v", r)}}, Status: http.StatusInternalServerError}
		}
	}()
	planner, err := plan.NewPlanner(p.config)
	if err != nil {
		return nil, fmt.Errorf("create planner: %w", err)
	}
	var report operationreport.Report
	pl = planner.Plan(doc, p.definition, name, &report)
	if report.HasErrors() {
		return nil, reportError(&report, http.StatusInternalServerError)
	}
	postprocess.NewProcessor().Process(pl)
	return pl, nil
}

// reportError converts an operation report into a RequestError. External errors are the
// client's fault; internal errors are reported with status.
func reportError(report *operationreport.Report, status int) *RequestError {
	out := &RequestError{Status: status}
	for _, e := range report.ExternalErrors {
		ge := GraphQLError{Message: e.Message}
		for _, l := range e.Locations {
			// The parser reports an unexpected end of the document at 0:0; positions
			// start at 1, so such a location says nothing and is left out.
			if l.Line == 0 {
				continue
			}
			ge.Locations = append(ge.Locations, Location{Line: int(l.Line), Column: int(l.Column)})
		}
		out.Errors = append(out.Errors, ge)
		if e.StatusCode != 0 {
			out.Status = e.StatusCode
		}
	}
	if len(report.ExternalErrors) > 0 && out.Status >= 500 {
		out.Status = http.StatusBadRequest
	}
	for _, e := range report.InternalErrors {
		out.Errors = append(out.Errors, GraphQLError{Message: "internal error: " + e.Error()})
		out.Status = http.StatusInternalServerError
	}
	if len(out.Errors) == 0 {
		out.Errors = []GraphQLError{{Message: "invalid request"}}
	}
	return out
}
