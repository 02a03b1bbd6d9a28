// Package demo holds the demo subgraphs of the quickstart and of edgate's federation
// tests: "employees" (the entity owner), "products" (extends Employee, with one @requires
// and one @provides field) and the "events" subgraph SDL (NATS event directives). The
// three compose into one valid Federation v2 supergraph.
package demo

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"strconv"

	"github.com/edgate/edgate/testkit/minigraph"
)

// EmployeesSDL is the employees subgraph schema: it owns Employee. The file is the one
// copy: the examples, the end-to-end suite and the test fixtures all read it.
//
//go:embed employees.graphql
var EmployeesSDL string

// Employee is one record of the demo roster.
type Employee struct {
	ID        int
	Name      string
	Role      string
	UpdatedAt string
}

var roster = []Employee{
	{ID: 1, Name: "Alice Johnson", Role: "Engineering Manager", UpdatedAt: "2025-01-15T09:00:00Z"},
	{ID: 2, Name: "Bilal Khan", Role: "Backend Engineer", UpdatedAt: "2025-01-15T09:05:00Z"},
	{ID: 3, Name: "Chen Wei", Role: "Frontend Engineer", UpdatedAt: "2025-01-15T09:10:00Z"},
	{ID: 4, Name: "Dana Schmidt", Role: "Product Designer", UpdatedAt: "2025-01-15T09:15:00Z"},
	{ID: 5, Name: "Emeka Okafor", Role: "Site Reliability Engineer", UpdatedAt: "2025-01-15T09:20:00Z"},
}

// Roster returns the five fixed employees (ids 1 to 5) the employees subgraph serves.
func Roster() []Employee {
	return append([]Employee(nil), roster...)
}

func findEmployee(id int) (Employee, bool) {
	for _, e := range roster {
		if e.ID == id {
			return e, true
		}
	}
	return Employee{}, false
}

func (e Employee) value() map[string]any {
	return map[string]any{"__typename": "Employee", "id": e.ID, "name": e.Name, "role": e.Role, "updatedAt": e.UpdatedAt}
}

// Employees returns a new employees subgraph (each call has its own request records).
func Employees() *minigraph.Subgraph {
	return &minigraph.Subgraph{
		Name: "employees",
		SDL:  EmployeesSDL,
		Query: map[string]minigraph.Resolver{
			"employee": func(_ context.Context, args map[string]any, _ http.Header) (any, error) {
				if e, ok := findEmployee(args["id"].(int)); ok {
					return e.value(), nil
				}
				return nil, nil
			},
			"employees": func(context.Context, map[string]any, http.Header) (any, error) {
				out := make([]any, len(roster))
				for i, e := range roster {
					out[i] = e.value()
				}
				return out, nil
			},
		},
		Entities: func(_ context.Context, rep map[string]any, _ http.Header) (map[string]any, error) {
			if rep["__typename"] != "Employee" {
				return nil, nil
			}
			id, err := intKey(rep, "id")
			if err != nil {
				return nil, err
			}
			if e, ok := findEmployee(id); ok {
				return e.value(), nil
			}
			return nil, nil
		},
	}
}

// intKey reads an Int key field of a representation, which gateways send as a JSON
// number or, some of them, as a string.
func intKey(rep map[string]any, field string) (int, error) {
	switch v := rep[field].(type) {
	case int:
		return v, nil
	case float64:
		if v == float64(int(v)) {
			return int(v), nil
		}
	case string:
		if i, err := strconv.Atoi(v); err == nil {
			return i, nil
		}
	}
	return 0, fmt.Errorf("representation of %v: key field %q is not an Int: %v", rep["__typename"], field, rep[field])
}
