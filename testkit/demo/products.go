package demo

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/edgate/edgate/testkit/minigraph"
)

// ProductsSDL is the products subgraph schema. It owns Product and extends Employee:
//
//   - Employee.products is resolved here from the employee's key.
//   - Employee.title @requires(fields: "role"): role is owned by the employees subgraph,
//     so the gateway must fetch it there first and send it in the representation; the
//     title is the role in capitals, as printed on the badge.
//   - Product.owner @provides(fields: "name"): this subgraph knows the owner's name, so a
//     query for products { owner { name } } needs no fetch from the employees subgraph.
//
// Employee.name and Employee.role are @external: declared for @provides and @requires,
// resolved by the employees subgraph.
const ProductsSDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@external", "@requires", "@provides"])

type Query {
  topProducts(first: Int = 5): [Product!]!
  product(upc: String!): Product
}

type Product @key(fields: "upc") {
  upc: String!
  name: String!
  price: Int!
  owner: Employee! @provides(fields: "name")
}

type Employee @key(fields: "id") {
  id: Int!
  name: String! @external
  role: String! @external
  products: [Product!]!
  title: String! @requires(fields: "role")
}
`

// Product is one record of the demo catalog. Price is in cents.
type Product struct {
	UPC     string
	Name    string
	Price   int
	OwnerID int
}

var catalog = []Product{
	{UPC: "p-100", Name: "Edge Gateway", Price: 4900, OwnerID: 2},
	{UPC: "p-200", Name: "Event Router", Price: 2900, OwnerID: 2},
	{UPC: "p-300", Name: "Design System", Price: 1900, OwnerID: 4},
	{UPC: "p-400", Name: "Status Page", Price: 900, OwnerID: 5},
	{UPC: "p-500", Name: "Team Dashboard", Price: 1500, OwnerID: 1},
}

// Catalog returns the fixed products the products subgraph serves, in topProducts order.
func Catalog() []Product {
	return append([]Product(nil), catalog...)
}

// Title is Employee.title as the products subgraph computes it from the role.
func Title(role string) string {
	return strings.ToUpper(role)
}

func (p Product) value() map[string]any {
	owner, _ := findEmployee(p.OwnerID)
	return map[string]any{
		"__typename": "Product", "upc": p.UPC, "name": p.Name, "price": p.Price,
		"owner": map[string]any{"__typename": "Employee", "id": owner.ID, "name": owner.Name},
	}
}

func productsOf(employeeID int) []any {
	out := []any{}
	for _, p := range catalog {
		if p.OwnerID == employeeID {
			out = append(out, p.value())
		}
	}
	return out
}

// Products returns a new products subgraph.
func Products() *minigraph.Subgraph {
	return &minigraph.Subgraph{
		Name: "products",
		SDL:  ProductsSDL,
		Query: map[string]minigraph.Resolver{
			"topProducts": func(_ context.Context, args map[string]any, _ http.Header) (any, error) {
				n := min(max(args["first"].(int), 0), len(catalog))
				out := make([]any, n)
				for i := range n {
					out[i] = catalog[i].value()
				}
				return out, nil
			},
			"product": func(_ context.Context, args map[string]any, _ http.Header) (any, error) {
				for _, p := range catalog {
					if p.UPC == args["upc"] {
						return p.value(), nil
					}
				}
				return nil, nil
			},
		},
		Entities: func(_ context.Context, rep map[string]any, _ http.Header) (map[string]any, error) {
			switch rep["__typename"] {
			case "Employee":
				id, err := intKey(rep, "id")
				if err != nil {
					return nil, err
				}
				if _, ok := findEmployee(id); !ok {
					return nil, nil
				}
				out := map[string]any{"__typename": "Employee", "id": id, "products": productsOf(id)}
				// title exists only when the gateway sent the required role; selecting it
				// without then fails as a null in a non-null field, which is the point.
				if role, ok := rep["role"].(string); ok {
					out["title"] = Title(role)
				}
				return out, nil
			case "Product":
				for _, p := range catalog {
					if p.UPC == rep["upc"] {
						return p.value(), nil
					}
				}
				return nil, nil
			default:
				return nil, fmt.Errorf("products subgraph resolves no entity %v", rep["__typename"])
			}
		},
	}
}
