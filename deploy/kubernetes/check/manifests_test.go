// Package check validates deploy/kubernetes against the Kubernetes API types, offline: no
// schema checker that works without downloading schemas installs here, so each document
// is decoded strictly (unknown fields are errors) into the k8s.io/api type of its kind.
// It is a module of its own so that the gateway's module does not depend on k8s.io/api.
//
//	cd deploy/kubernetes/check && go test ./...
package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

func decodeStrict(doc []byte, into any) error {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(j))
	d.DisallowUnknownFields()
	return d.Decode(into)
}

type objects struct {
	config     *corev1.ConfigMap
	deployment *appsv1.Deployment
	pdb        *policyv1.PodDisruptionBudget
	service    *corev1.Service
}

func load(t *testing.T) objects {
	t.Helper()
	b, err := os.ReadFile("../edgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var o objects
	for i, doc := range bytes.Split(b, []byte("\n---\n")) {
		var head struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var into any
		switch head.APIVersion + " " + head.Kind {
		case "v1 ConfigMap":
			o.config = new(corev1.ConfigMap)
			into = o.config
		case "apps/v1 Deployment":
			o.deployment = new(appsv1.Deployment)
			into = o.deployment
		case "policy/v1 PodDisruptionBudget":
			o.pdb = new(policyv1.PodDisruptionBudget)
			into = o.pdb
		case "v1 Service":
			o.service = new(corev1.Service)
			into = o.service
		default:
			t.Fatalf("document %d: unexpected %s %s", i, head.APIVersion, head.Kind)
		}
		if err := decodeStrict(doc, into); err != nil {
			t.Fatalf("document %d (%s): %v", i, head.Kind, err)
		}
	}
	if o.config == nil || o.deployment == nil || o.pdb == nil || o.service == nil {
		t.Fatalf("want a ConfigMap, a Deployment, a PodDisruptionBudget and a Service")
	}
	return o
}

func TestManifests_DecodeStrictlyIntoTheirAPITypes(t *testing.T) { load(t) }

// The pieces refer to each other and to the gateway's configuration: selectors match the
// pod labels, readiness is /health/ready, the grace period covers the shutdown timeout,
// and the config the pod mounts is the ConfigMap's.
func TestManifests_AreConsistent(t *testing.T) {
	o := load(t)
	d := o.deployment
	pod := d.Spec.Template
	for k, v := range d.Spec.Selector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("deployment selector %s=%s does not match the pod labels %v", k, v, pod.Labels)
		}
	}
	for k, v := range o.service.Spec.Selector {
		if pod.Labels[k] != v {
			t.Errorf("service selector %s=%s does not match the pod labels", k, v)
		}
	}
	for k, v := range o.pdb.Spec.Selector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("PodDisruptionBudget selector %s=%s does not match the pod labels", k, v)
		}
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/health/ready" {
		t.Errorf("readiness probe %+v, want GET /health/ready", c.ReadinessProbe)
	}
	mounted := false
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == o.config.Name {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("no volume mounts the ConfigMap %q", o.config.Name)
	}
	var cfg struct {
		ShutdownTimeout string `json:"shutdown_timeout"`
	}
	var text string
	for name, v := range o.config.Data {
		if strings.HasSuffix(name, ".yaml") {
			text = v
		}
	}
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatalf("the ConfigMap's edgate config: %v", err)
	}
	timeout, err := time.ParseDuration(cfg.ShutdownTimeout)
	if err != nil {
		t.Fatalf("shutdown_timeout %q: %v", cfg.ShutdownTimeout, err)
	}
	grace := pod.Spec.TerminationGracePeriodSeconds
	if grace == nil || time.Duration(*grace)*time.Second < timeout {
		t.Errorf("terminationGracePeriodSeconds %v is shorter than shutdown_timeout %s", fmt.Sprint(grace), timeout)
	}
}
