package main

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// logSink is where the provider's messages for a resource go: the engine's Log service in the plugin,
// a recorder in tests. ephemeral messages are status lines (the progress display's column for the
// resource, as pulumi-go-provider's Logger.InfoStatus sends them), the others are diagnostics shown
// under the resource (Logger.Warning, Logger.Error).
type logSink interface {
	Log(ctx context.Context, severity diag.Severity, urn, msg string, ephemeral bool)
}

type discardLog struct{}

func (discardLog) Log(context.Context, diag.Severity, string, string, bool) {}

type engineLog struct {
	client pulumirpc.EngineClient
}

func dialEngineLog(address string) (*engineLog, error) {
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &engineLog{client: pulumirpc.NewEngineClient(conn)}, nil
}

func (e *engineLog) Log(ctx context.Context, severity diag.Severity, urn, msg string, ephemeral bool) {
	var sev pulumirpc.LogSeverity
	switch severity {
	case diag.Debug:
		sev = pulumirpc.LogSeverity_DEBUG
	case diag.Warning:
		sev = pulumirpc.LogSeverity_WARNING
	case diag.Error:
		sev = pulumirpc.LogSeverity_ERROR
	default:
		sev = pulumirpc.LogSeverity_INFO
	}
	// A log line must never fail the operation it reports on (nor outlive a cancelled request).
	if _, err := e.client.Log(context.WithoutCancel(ctx), &pulumirpc.LogRequest{
		Severity: sev, Message: msg, Urn: urn, Ephemeral: ephemeral,
	}); err != nil {
		logging.V(5).Infof("could not send a log line to the engine: %v", err)
	}
}
