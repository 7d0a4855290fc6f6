package ginsession

import (
	"errors"
	"strings"
	"testing"
)

// TestEnvFlask08Settings: the settings Flask-Session 0.8 added are read
// (SESSION_DYNAMODB*, SESSION_SQLALCHEMY_SCHEMA/SEQUENCE) or, when they have
// no Go meaning, refused with an EnvError naming the variable and saying
// what to use instead.
func TestEnvFlask08Settings(t *testing.T) {
	lookup := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	o, err := OptionsFromLookup(lookup(map[string]string{
		"SESSION_DYNAMODB":            "https://dynamodb.eu-west-1.amazonaws.com",
		"SESSION_DYNAMODB_TABLE":      "Web.Sessions-1",
		"SESSION_SQLALCHEMY_SCHEMA":   "flask",
		"SESSION_SQLALCHEMY_SEQUENCE": "flask.sessions_id_seq",
	}), "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := o.withDefaults().backendConfig()
	if cfg.DynamoDB != "https://dynamodb.eu-west-1.amazonaws.com" || cfg.DynamoDBTable != "Web.Sessions-1" ||
		cfg.SQLAlchemySchema != "flask" || cfg.SQLAlchemySequence != "flask.sessions_id_seq" {
		t.Errorf("backend config %+v", cfg)
	}

	for _, tc := range []struct {
		env     map[string]string
		name    string
		instead string // what the error must point to
	}{
		{map[string]string{"SESSION_DYNAMODB": "localhost:8000"}, "SESSION_DYNAMODB", "http://localhost:8000"},
		{map[string]string{"SESSION_DYNAMODB": "ftp://h"}, "SESSION_DYNAMODB", "http or https"},
		{map[string]string{"SESSION_DYNAMODB_TABLE": "no spaces"}, "SESSION_DYNAMODB_TABLE", "3 to 255 characters"},
		{map[string]string{"SESSION_DYNAMODB_TABLE": "ab"}, "SESSION_DYNAMODB_TABLE", "3 to 255 characters"},
		{map[string]string{"SESSION_SQLALCHEMY_BIND_KEY": "sessions"}, "SESSION_SQLALCHEMY_BIND_KEY", "SESSION_SQLALCHEMY"},
		{map[string]string{"SESSION_CACHELIB": "FileSystemCache('/tmp')"}, "SESSION_CACHELIB", "SESSION_TYPE"},
		{map[string]string{"SESSION_TYPE": "cachelib"}, "SESSION_TYPE", "filesystem"},
		{map[string]string{"SESSION_TYPE": "CacheLib"}, "SESSION_TYPE", "redis"},
	} {
		_, err := OptionsFromLookup(lookup(tc.env), "")
		var ee *EnvError
		if !errors.As(err, &ee) || ee.Var != tc.name {
			t.Errorf("%v: %v; want an EnvError naming %s", tc.env, err, tc.name)
			continue
		}
		if !strings.Contains(ee.Want, tc.instead) {
			t.Errorf("%v: %q does not point to %q", tc.env, ee.Want, tc.instead)
		}
	}
}
