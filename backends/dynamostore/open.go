package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ginsession/ginsession/backends"
)

func init() {
	backends.Register("dynamodb", open)
}

// open is the SESSION_TYPE=dynamodb factory. It loads the AWS default
// configuration (region and credentials from AWS_REGION, AWS_ACCESS_KEY_ID,
// AWS_PROFILE, the shared config files, IMDS...), points the client at
// SESSION_DYNAMODB when set, and sets the table up as New does, within ctx.
func open(ctx context.Context, cfg backends.Config) (backends.Store, error) {
	endpoint := strings.TrimSpace(cfg.DynamoDB)
	if err := CheckEndpoint(endpoint); err != nil {
		return nil, fmt.Errorf("ginsession: SESSION_DYNAMODB=%q: %w", endpoint, err)
	}
	table := strings.TrimSpace(cfg.DynamoDBTable)
	if table == "" {
		table = DefaultTable
	}
	if err := CheckTableName(table); err != nil {
		return nil, fmt.Errorf("ginsession: SESSION_DYNAMODB_TABLE=%q: %w", table, err)
	}
	client, err := NewClient(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	s, err := newStore(ctx, client, Options{Table: table, KeyPrefix: cfg.KeyPrefix, Logger: cfg.Log()})
	if err != nil {
		where := "the AWS default endpoint"
		if endpoint != "" {
			where = endpoint
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w (DynamoDB at %s; a table being created can take a while: start again in a moment, or create it beforehand)", err, where)
		}
		return nil, fmt.Errorf("%w (DynamoDB at %s)", err, where)
	}
	return s, nil
}

// NewClient returns a DynamoDB client configured by the AWS default chain
// (region and credentials from the environment, the shared config and
// credentials files, or the instance's role) and, when endpoint is not
// empty, sending to endpoint, e.g. DynamoDB Local's http://localhost:8000.
// A missing region is an error naming AWS_REGION.
func NewClient(ctx context.Context, endpoint string) (*dynamodb.Client, error) {
	if err := CheckEndpoint(endpoint); err != nil {
		return nil, fmt.Errorf("ginsession: dynamodb endpoint %q: %w", endpoint, err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("ginsession: dynamodb: load the AWS configuration (AWS_PROFILE, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE): %w", err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("ginsession: dynamodb: no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the AWS profile); any region works with DynamoDB Local")
	}
	return dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = &endpoint
		}
	}), nil
}

// CheckEndpoint validates SESSION_DYNAMODB: empty (the AWS default
// endpoint) or an absolute http or https URL with a host and no query or
// fragment, such as http://localhost:8000.
func CheckEndpoint(endpoint string) error {
	if endpoint == "" {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return errors.New("want an http or https endpoint URL such as http://localhost:8000 (DynamoDB Local), or nothing for the AWS default endpoint")
	}
	return nil
}
