package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/joho/godotenv"
)

// docker-compose.yml cannot be run here (no Docker engine), so check that it
// parses, starts the five servers the backends need, and publishes them on
// loopback only, on the ports of the backends' defaults.
func TestComposeFile(t *testing.T) {
	data, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Image string   `yaml:"image"`
			Ports []string `yaml:"ports"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	// Catch misspelt keys: only these appear in the file.
	var raw struct {
		Top      map[string]any            `yaml:",inline"`
		Services map[string]map[string]any `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	known := []string{"image", "command", "ports", "volumes", "environment", "healthcheck"}
	for name, s := range raw.Services {
		for k := range s {
			if !slices.Contains(known, k) {
				t.Errorf("service %s: unexpected key %q", name, k)
			}
		}
	}
	for k := range raw.Top {
		if !slices.Contains([]string{"name", "services", "volumes"}, k) {
			t.Errorf("unexpected top-level key %q", k)
		}
	}
	want := map[string]string{ // service: published port (the SESSION_* default)
		"redis":     "127.0.0.1:6379:6379",
		"memcached": "127.0.0.1:11211:11211",
		"mongo":     "127.0.0.1:27017:27017",
		"postgres":  "127.0.0.1:5432:5432",
		"dynamodb":  "127.0.0.1:8000:8000", // DynamoDB Local's usual port
	}
	for name, port := range want {
		s, ok := f.Services[name]
		if !ok {
			t.Errorf("no service %q", name)
			continue
		}
		if s.Image == "" || !strings.Contains(s.Image, ":") {
			t.Errorf("%s: image %q, want a pinned tag", name, s.Image)
		}
		if !slices.Equal(s.Ports, []string{port}) {
			t.Errorf("%s: ports %q, want [%q]", name, s.Ports, port)
		}
	}
	if len(f.Services) != len(want) {
		t.Errorf("%d services, want %d", len(f.Services), len(want))
	}
}

// .env.example must parse as a dotenv file and configure the default store.
func TestEnvExample(t *testing.T) {
	env, err := godotenv.Read(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	if env["SESSION_TYPE"] != "filesystem" || env["SESSION_FILE_DIR"] == "" || env["SECRET_KEY"] == "" {
		t.Errorf(".env.example: %v", env)
	}
	for k := range env {
		if strings.Contains(k, "PASSWORD") {
			t.Errorf(".env.example sets %s: leave passwords commented out", k)
		}
	}
}
