package main

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/edgate/edgate/gateway"
)

// employeeHooks is the custom logic of this binary. It implements three of the gateway's
// hook interfaces; the gateway finds them when it starts (gateway.WithHooks).
type employeeHooks struct{}

var (
	_ gateway.SubscriptionStartHook = employeeHooks{}
	_ gateway.SnapshotHook          = employeeHooks{}
	_ gateway.SubscriberEventHook   = employeeHooks{}
)

// OnSubscriptionStart lets only viewers and admins subscribe. The token's "subjects"
// claim already limits which employees a client may follow (subject authorization in
// edgate.yaml); the role is this team's own rule.
func (employeeHooks) OnSubscriptionStart(_ context.Context, s *gateway.SubscriptionStart) error {
	switch s.Claims["role"] {
	case "viewer", "admin":
		return nil
	}
	return &gateway.HookError{Code: "FORBIDDEN", Message: "subscribing needs the role viewer or admin"}
}

// OnSnapshot sends the employee's current state before live updates. It returns the
// employee's key as an event: the gateway resolves it like a broker event, fetching the
// other fields from the employees subgraph, so the first message is the current record.
// Subscriptions to every employee (employeeUpdates) get no snapshot.
func (employeeHooks) OnSnapshot(_ context.Context, s *gateway.SubscriptionStart) ([][]byte, error) {
	if s.Field != "employeeUpdated" {
		return nil, nil
	}
	var args struct {
		ID *int `json:"id"`
	}
	if err := json.Unmarshal(s.Variables, &args); err != nil || args.ID == nil {
		return nil, nil // the id is written in the query, not a variable: no snapshot
	}
	return [][]byte{[]byte(`{"__typename":"Employee","id":` + strconv.Itoa(*args.ID) + `}`)}, nil
}

// OnSubscriberEvent hides the role from everyone but admins. Subscribers of one group
// share one resolved payload; this hook is the per-user step, so it copies only when it
// changes something.
func (employeeHooks) OnSubscriberEvent(_ context.Context, e *gateway.SubscriberEvent) error {
	if e.Claims["role"] == "admin" {
		return nil
	}
	var resp map[string]any
	if err := json.Unmarshal(e.Payload, &resp); err != nil {
		return err
	}
	data, _ := resp["data"].(map[string]any)
	changed := false
	for _, v := range data {
		if obj, ok := v.(map[string]any); ok {
			if _, has := obj["role"]; has {
				obj["role"] = nil
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	e.Payload = b
	return nil
}
