package resolve

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/edgate/edgate/resolve/internal/oplimit"
)

// OperationLimits bound the size and shape of an operation; Engine checks them in one pass
// over the request's text before parsing it (see resolve/internal/oplimit). A zero field
// turns that limit off.
type OperationLimits = oplimit.Limits

// DefaultOperationLimits are edgate's defaults (config.Limits documents each): far above
// what real operations need (GraphiQL's introspection query has 184 tokens, 230 fields
// once its fragments are inlined and is 15 fields deep) and low enough that
// normalization, quadratic in an operation's size, takes milliseconds.
var DefaultOperationLimits = OperationLimits{
	Tokens:                15000,
	Nesting:               128,
	Depth:                 32,
	Fields:                500,
	Aliases:               100,
	RootFields:            64,
	Fragments:             200,
	DirectivesPerLocation: 10,
	Variables:             100,
}

// CodeValidationFailed is the extensions.code of a document refused before parsing because
// its fragments cannot be counted (one defined twice, or spreading itself).
//
// An operation over a limit gets the limit's configuration key in upper case, then
// _EXCEEDED, as its code (MAX_QUERY_DEPTH_EXCEEDED, ...), with extensions.limit (the key, as
// "limits.max_query_depth") and extensions.maximum (the configured value).
const CodeValidationFailed = "GRAPHQL_VALIDATION_FAILED"

// limitError turns an oplimit error into the client's 400.
func limitError(err error) *RequestError {
	var le *oplimit.Error
	if errors.As(err, &le) {
		ge := GraphQLError{
			Message: le.Message,
			Extensions: map[string]any{
				"code":    le.Code(),
				"limit":   "limits." + le.Key,
				"maximum": le.Maximum,
			},
		}
		if le.Line > 0 {
			ge.Locations = []Location{{Line: le.Line, Column: le.Column}}
		}
		return &RequestError{Errors: []GraphQLError{ge}, Status: http.StatusBadRequest}
	}
	return &RequestError{
		Errors: []GraphQLError{{Message: err.Error(), Extensions: map[string]any{"code": CodeValidationFailed}}},
		Status: http.StatusBadRequest,
	}
}

// DefaultPreparationBudget is the default Options.PreparationBudget: within the operation
// limits preparation takes milliseconds, so only a starved machine spends it.
const DefaultPreparationBudget = 2 * time.Second

// CodePreparationTimeExceeded is the extensions.code of an operation whose preparation
// spent its budget.
const CodePreparationTimeExceeded = "MAX_PREPARATION_TIME_EXCEEDED"

func budgetError(budget time.Duration) *RequestError {
	return &RequestError{
		Errors: []GraphQLError{{
			Message: fmt.Sprintf("preparing the operation took more than %s (limits.max_preparation_time)", budget),
			Extensions: map[string]any{
				"code":    CodePreparationTimeExceeded,
				"limit":   "limits.max_preparation_time",
				"maximum": budget.String(),
			},
		}},
		Status: http.StatusServiceUnavailable,
	}
}
