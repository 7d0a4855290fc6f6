package ginsession

// SESSION_TYPE=dynamodb: sessions as Flask-Session items in a DynamoDB table (package dynamostore).
import _ "github.com/ginsession/ginsession/backends/dynamostore"
