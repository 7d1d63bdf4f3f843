package main

// A differential test: the same gRPC requests to this stand-in and to the real provider (a release
// binary of pulumi-resource-command v1.2.1, which the Go module proxy here does not serve), answers
// and engine log lines compared. It runs when COMMAND_PROVIDER_REAL names such a binary and is
// skipped otherwise:
//
//	COMMAND_PROVIDER_REAL=/path/to/pulumi-resource-command go test ./commandhost/ -run Differential -v

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// fakeEngine is the engine's Log service (and the health service plugins watch), recording lines.
type fakeEngine struct {
	pulumirpc.UnimplementedEngineServer
	mu    sync.Mutex
	lines []string
}

func (e *fakeEngine) Log(_ context.Context, req *pulumirpc.LogRequest) (*emptypb.Empty, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lines = append(e.lines, fmt.Sprintf("%s ephemeral=%v %s: %q", req.GetSeverity(), req.GetEphemeral(), req.GetUrn(), req.GetMessage()))
	return &emptypb.Empty{}, nil
}

func (e *fakeEngine) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.lines
	e.lines = nil
	return out
}

func serve(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	register(srv)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

func dialProvider(t *testing.T, addr string) pulumirpc.ResourceProviderClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return pulumirpc.NewResourceProviderClient(conn)
}

func startRealProvider(t *testing.T, bin, engineAddr string) pulumirpc.ResourceProviderClient {
	t.Helper()
	cmd := exec.Command(bin, engineAddr)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	port, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the real provider printed no port: %v", err)
	}
	return dialProvider(t, "127.0.0.1:"+strings.TrimSpace(port))
}

// outcome is what one request produced, in a comparable form.
type outcome struct {
	response string
	err      string
	logs     []string
}

func describeResponse(m proto.Message, err error) (string, string) {
	if err != nil {
		st := status.Convert(err)
		var details []string
		for _, d := range st.Details() {
			if pm, ok := d.(proto.Message); ok {
				details = append(details, prototext.Format(pm))
			}
		}
		return "", fmt.Sprintf("code=%s msg=%q details=%v", st.Code(), st.Message(), details)
	}
	if m == nil {
		return "<nil>", ""
	}
	// Unordered lists (from map iteration) sorted; random IDs reduced to their shape.
	switch r := proto.Clone(m).(type) {
	case *pulumirpc.DiffResponse:
		sort.Strings(r.Diffs)
		sort.Strings(r.Replaces)
		sort.Strings(r.Stables)
		m = r
	case *pulumirpc.CreateResponse:
		if strings.HasPrefix(r.Id, "probe") && len(r.Id) == len("probe")+8 {
			r.Id = "probe<8 hex>"
		}
		m = r
	}
	return prototext.MarshalOptions{Multiline: true}.Format(m), ""
}

func TestDifferentialAgainstTheRealProvider(t *testing.T) {
	realBin := os.Getenv("COMMAND_PROVIDER_REAL")
	if realBin == "" {
		t.Skip("no real provider binary to compare with: set COMMAND_PROVIDER_REAL to a pulumi-resource-command v1.2.1")
	}
	t.Logf("comparing with %s", realBin)
	engine := &fakeEngine{}
	engineAddr := serve(t, func(s *grpc.Server) {
		pulumirpc.RegisterEngineServer(s, engine)
		healthpb.RegisterHealthServer(s, health.NewServer())
	})
	real := startRealProvider(t, realBin, engineAddr)
	sink, err := dialEngineLog(engineAddr)
	if err != nil {
		t.Fatal(err)
	}
	standIn := dialProvider(t, serve(t, func(s *grpc.Server) { pulumirpc.RegisterResourceProviderServer(s, newProvider(sink)) }))

	srv := startTestServer(t, false)
	accepting := startTestServer(t, true)
	other, _ := newEd25519Signer(t)
	m := func(conn resource.PropertyValue, fields map[string]any) *pulumirpc.CheckRequest {
		return &pulumirpc.CheckRequest{Urn: testURN, News: mustMarshal(t, inputs(conn, fields))}
	}
	props := func(conn resource.PropertyValue, fields map[string]any) *structpb.Struct {
		return mustMarshal(t, inputs(conn, fields))
	}
	plainConn := resource.NewObjectProperty(resource.PropertyMap{"host": resource.NewStringProperty("10.0.0.4"), "password": resource.NewStringProperty("pw")})
	withTriggers := func(trigger any, create string) *structpb.Struct {
		f := map[string]any{"create": create}
		if trigger != nil {
			f["triggers"] = []any{trigger}
		}
		return props(srv.conn(nil), f)
	}
	state := func(conn resource.PropertyValue, fields map[string]any) *structpb.Struct {
		in := inputs(conn, fields)
		if _, ok := in["stdout"]; !ok {
			in["stdout"] = resource.NewStringProperty("")
			in["stderr"] = resource.NewStringProperty("")
		}
		return mustMarshal(t, in)
	}

	type call func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error)
	cases := []struct {
		name string
		call call
	}{
		{"plugin info", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.GetPluginInfo(ctx, &emptypb.Empty{})
		}},
		{"configure", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			r, err := p.Configure(ctx, &pulumirpc.ConfigureRequest{AcceptSecrets: true, AcceptResources: true, SendsOldInputs: true, SendsOldInputsToDelete: true})
			if r != nil {
				r.AcceptOutputs = false // the one known difference: the stand-in does not take output values
			}
			return r, err
		}},
		{"check defaults", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Check(ctx, m(plainConn, map[string]any{"create": "true", "triggers": []any{"a"}}))
		}},
		{"check given values", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Check(ctx, m(srv.conn(map[string]any{"dialErrorLimit": float64(-1)}), map[string]any{"create": "x", "addPreviousOutputInEnv": false, "logging": "stderr"}))
		}},
		{"check unknown connection", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Check(ctx, m(resource.MakeComputed(resource.NewStringProperty("")), map[string]any{"create": "x"}))
		}},
		{"diff no change", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Diff(ctx, &pulumirpc.DiffRequest{Urn: testURN, Id: "probe1", Olds: state(srv.conn(nil), map[string]any{"create": "a", "triggers": []any{"t1"}}), News: withTriggers("t1", "a"), OldInputs: withTriggers("t1", "a")})
		}},
		{"diff trigger element", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Diff(ctx, &pulumirpc.DiffRequest{Urn: testURN, Id: "probe1", Olds: state(srv.conn(nil), map[string]any{"create": "a", "triggers": []any{"t1"}}), News: withTriggers("t2", "a"), OldInputs: withTriggers("t1", "a")})
		}},
		{"diff triggers added", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Diff(ctx, &pulumirpc.DiffRequest{Urn: testURN, Id: "probe1", Olds: state(srv.conn(nil), map[string]any{"create": "a"}), News: withTriggers("t1", "a"), OldInputs: withTriggers(nil, "a")})
		}},
		{"diff create changed", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Diff(ctx, &pulumirpc.DiffRequest{Urn: testURN, Id: "probe1", Olds: state(srv.conn(nil), map[string]any{"create": "a", "triggers": []any{"t1"}}), News: withTriggers("t1", "b"), OldInputs: withTriggers("t1", "a")})
		}},
		{"create preview", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Preview: true, Properties: props(srv.conn(nil), map[string]any{"create": "echo x"})})
		}},
		{"create no command", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Properties: props(srv.conn(nil), map[string]any{"delete": "true"})})
		}},
		{"create pinned key, stdin, both streams logged", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Properties: props(srv.conn(nil), map[string]any{
				"create": "bash -s; sleep 0.1; echo progress >&2", "stdin": "echo line1\nsleep 0.1\necho line2\n", "triggers": []any{"t"},
			})})
		}},
		{"create logging stderr", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Properties: props(srv.conn(nil), map[string]any{
				"create": "echo evidence; sleep 0.1; echo progress >&2", "logging": "stderr",
			})})
		}},
		{"create failing command", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Properties: props(srv.conn(nil), map[string]any{
				"create": "echo out; sleep 0.2; echo err >&2; exit 3",
			})})
		}},
		{"create host key mismatch", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Properties: props(srv.conn(map[string]any{
				"hostKey": authorizedLine(other), "dialErrorLimit": float64(2),
			}), map[string]any{"create": "true"})})
		}},
		{"create through a proxy", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Properties: props(accepting.conn(map[string]any{
				"proxy": srv.conn(nil).SecretValue().Element.ObjectValue().Mappable(),
			}), map[string]any{"create": "echo via-bastion"})})
		}},
		{"create through a proxy, target host key mismatch", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Properties: props(accepting.conn(map[string]any{
				"proxy":   srv.conn(nil).SecretValue().Element.ObjectValue().Mappable(),
				"hostKey": authorizedLine(other), "dialErrorLimit": float64(1),
			}), map[string]any{"create": "true"})})
		}},
		{"check proxy defaults", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Check(ctx, m(resource.NewObjectProperty(resource.PropertyMap{
				"host":  resource.NewStringProperty("10.0.0.4"),
				"proxy": resource.NewObjectProperty(resource.PropertyMap{"host": resource.NewStringProperty("bastion"), "privateKey": resource.NewStringProperty("k")}),
			}), map[string]any{"create": "true"}))
		}},
		{"create environment refused", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Properties: props(srv.conn(nil), map[string]any{
				"create": "true", "environment": map[string]any{"FOO": "bar"},
			})})
		}},
		{"update refused previous output", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Update(ctx, &pulumirpc.UpdateRequest{Urn: testURN, Id: "probe1",
				Olds: state(srv.conn(nil), map[string]any{"create": "echo one", "stdout": "one", "stderr": "e"}),
				News: props(srv.conn(nil), map[string]any{"create": "echo two"})})
		}},
		{"update previous output and environment accepted", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Update(ctx, &pulumirpc.UpdateRequest{Urn: testURN, Id: "probe1",
				Olds: state(accepting.conn(nil), map[string]any{"create": "true", "stdout": "earlier", "stderr": ""}),
				News: props(accepting.conn(nil), map[string]any{"create": "true", "update": `echo "$PULUMI_COMMAND_STDOUT $FOO"`, "environment": map[string]any{"FOO": "bar"}})})
		}},
		{"update preview", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Update(ctx, &pulumirpc.UpdateRequest{Urn: testURN, Id: "probe1", Preview: true,
				Olds: state(srv.conn(nil), map[string]any{"create": "echo one", "stdout": "one", "stderr": ""}),
				News: props(srv.conn(nil), map[string]any{"create": "echo two"})})
		}},
		{"delete", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Delete(ctx, &pulumirpc.DeleteRequest{Urn: testURN, Id: "probe1",
				Properties: state(accepting.conn(nil), map[string]any{"create": "true", "delete": `echo "bye $PULUMI_COMMAND_STDOUT"`, "stdout": "s", "stderr": ""})})
		}},
		{"read", func(ctx context.Context, p pulumirpc.ResourceProviderClient) (proto.Message, error) {
			return p.Read(ctx, &pulumirpc.ReadRequest{Urn: testURN, Id: "probe1",
				Properties: state(srv.conn(nil), map[string]any{"create": "true", "stdout": "s", "stderr": ""}),
				Inputs:     props(srv.conn(nil), map[string]any{"create": "true"})})
		}},
	}
	run := func(p pulumirpc.ResourceProviderClient, c call) outcome {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		engine.take()
		resp, err := c(ctx, p)
		time.Sleep(100 * time.Millisecond) // let log lines sent before the answer arrive
		var o outcome
		o.response, o.err = describeResponse(resp, err)
		o.logs = engine.take()
		return o
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := run(real, c.call)
			got := run(standIn, c.call)
			if got.err != want.err {
				t.Errorf("error:\n stand-in %s\n real     %s", got.err, want.err)
			}
			if got.response != want.response {
				t.Errorf("response:\n--- stand-in\n%s\n--- real\n%s", got.response, want.response)
			}
			if strings.Join(got.logs, "\n") != strings.Join(want.logs, "\n") {
				t.Errorf("engine log:\n--- stand-in\n%s\n--- real\n%s", strings.Join(got.logs, "\n"), strings.Join(want.logs, "\n"))
			}
		})
	}
}
