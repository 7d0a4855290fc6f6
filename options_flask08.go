package ginsession

import (
	"strings"

	"github.com/ginsession/ginsession/backends/dynamostore"
)

// flask08 reads the settings Flask-Session 0.8 added: the DynamoDB ones,
// the SQL schema and sequence (checked by the store, whose errors name
// them), and those that have no meaning in Go, which are reported with what to use
// instead rather than silently ignored.
func (r *envReader) flask08(o *Options) {
	if r.str("SESSION_DYNAMODB", &o.DynamoDB) {
		if dynamostore.CheckEndpoint(o.DynamoDB) != nil {
			r.fail("SESSION_DYNAMODB", o.DynamoDB, "an http or https endpoint URL such as http://localhost:8000 (DynamoDB Local), or nothing for the AWS endpoint of AWS_REGION", false)
		}
	}
	if r.str("SESSION_DYNAMODB_TABLE", &o.DynamoDBTable) {
		if dynamostore.CheckTableName(o.DynamoDBTable) != nil {
			r.fail("SESSION_DYNAMODB_TABLE", o.DynamoDBTable, "a DynamoDB table name: 3 to 255 characters among a-z, A-Z, 0-9, _, - and . (default Sessions)", false)
		}
	}
	r.str("SESSION_SQLALCHEMY_SCHEMA", &o.SQLAlchemySchema)
	r.str("SESSION_SQLALCHEMY_SEQUENCE", &o.SQLAlchemySequence)
	if v, ok := r.get("SESSION_SQLALCHEMY_BIND_KEY"); ok {
		r.fail("SESSION_SQLALCHEMY_BIND_KEY", v, "nothing: Flask-SQLAlchemy binds do not exist in Go; unset it and put the URL of the database that bind names in SESSION_SQLALCHEMY", false)
	}
	if v, ok := r.get("SESSION_CACHELIB"); ok {
		r.fail("SESSION_CACHELIB", v, "nothing: a cachelib cache is a Python object; unset it and choose the store with SESSION_TYPE (filesystem for cachelib's FileSystemCache, redis, memcached, memory)", false)
	}
	if strings.EqualFold(strings.TrimSpace(o.Type), "cachelib") {
		r.fail("SESSION_TYPE", o.Type, "a store ginsession has: cachelib's Python caches have no Go equivalent; use filesystem (as cachelib's FileSystemCache), redis, memcached or memory", false)
	}
}
