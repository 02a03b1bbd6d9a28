// Command hooks is a gateway binary with a team's own logic in Go hooks: it authorizes
// subscriptions by a JWT claim, sends each subscriber the employee's current state before
// live updates, and hides a field from all but admins. The whole binary is this file and
// hooks.go:
//
//	go run ./examples/hooks
//
// See README.md next to this file.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/examples/internal/stack"
	"github.com/edgate/edgate/gateway"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "hooks example: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hooks", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", stack.ConfigPath("hooks"), "gateway config")
	level := fs.String("log", "info", "log level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := stack.Logger(stderr, *level)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	s, err := start(ctx, cfg, log)
	if err != nil {
		return err
	}
	viewer, err := token(cfg, "viewer", "employeeUpdated.*")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "edgate with hooks on %s\n\nA viewer's token (the role is hidden from viewers):\n  %s\n\n", s.Gateway.URL(), viewer)
	fmt.Fprintf(stdout, "curl -N -H 'Accept: text/event-stream' -H 'Authorization: Bearer %s' \\\n  -d '{\"query\":\"subscription($id: Int!) { employeeUpdated(id: $id) { id name role } }\",\"variables\":{\"id\":2}}' %s\n", viewer, s.Gateway.URL())
	<-ctx.Done()
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer stopCancel()
	s.Stop(stopCtx)
	return nil
}

// start runs the demo employees subgraph and the gateway with this binary's hooks.
func start(ctx context.Context, cfg *config.Config, log zerolog.Logger) (*stack.Stack, error) {
	return stack.Start(ctx, cfg, log, gateway.WithHooks(employeeHooks{}))
}

// token signs a JWT for the example's provider: a role and the subjects it may follow.
func token(cfg *config.Config, role string, subjects ...string) (string, error) {
	secret := cfg.Events.Providers.NATS[0].Authorization.JWT.Secret
	claims := jwt.MapClaims{"sub": role + "-user", "role": role, "subjects": subjects, "exp": time.Now().Add(24 * time.Hour).Unix()}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}
