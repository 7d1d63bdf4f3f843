package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const testURN = "urn:pulumi:dev::proj::command:remote:Command::probe"

type logEntry struct {
	severity  diag.Severity
	msg       string
	ephemeral bool
}

type recordLog struct {
	mu      sync.Mutex
	entries []logEntry
}

func (r *recordLog) Log(_ context.Context, sev diag.Severity, urn, msg string, ephemeral bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if urn != testURN {
		panic("log for another resource: " + urn)
	}
	r.entries = append(r.entries, logEntry{sev, msg, ephemeral})
}

func (r *recordLog) lines(sev diag.Severity, ephemeral bool) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.entries {
		if e.severity == sev && e.ephemeral == ephemeral {
			out = append(out, e.msg)
		}
	}
	return out
}

func mustMarshal(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustUnmarshal(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := unmarshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// conn is a connection object to the test server, pinned to its host key, as the engine sends it
// (secret); extra fields override.
func (s *testServer) conn(extra map[string]any) resource.PropertyValue {
	m := map[string]any{
		"host": s.host, "port": float64(s.port), "user": "azureuser", "privateKey": s.clientKey,
		"hostKey": authorizedLine(s.hostKey), "dialErrorLimit": float64(10), "perDialTimeout": float64(5),
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return resource.MakeSecret(resource.NewObjectProperty(resource.NewPropertyMapFromMap(m)))
}

func inputs(conn resource.PropertyValue, fields map[string]any) resource.PropertyMap {
	m := resource.NewPropertyMapFromMap(fields)
	m["connection"] = conn
	return m
}

func create(t *testing.T, p *commandProvider, in resource.PropertyMap, preview bool) (*pulumirpc.CreateResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Properties: mustMarshal(t, in), Preview: preview})
}

// createdStdout creates the command with a provider of its own and returns its stdout output.
func createdStdout(t *testing.T, in resource.PropertyMap) string {
	t.Helper()
	resp, err := create(t, newProvider(&recordLog{}), in, false)
	if err != nil {
		t.Fatal(err)
	}
	return mustUnmarshal(t, resp.GetProperties())["stdout"].StringValue()
}

func TestPinnedHostKeyIsAcceptedAndStdoutTrimmed(t *testing.T) {
	srv := startTestServer(t, false)
	log := &recordLog{}
	p := newProvider(log)
	resp, err := create(t, p, inputs(srv.conn(nil), map[string]any{"create": "echo hello; echo warn >&2"}), false)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !strings.HasPrefix(resp.GetId(), "probe") || len(resp.GetId()) != len("probe")+8 {
		t.Errorf("id %q is not the name and 8 hex digits", resp.GetId())
	}
	out := mustUnmarshal(t, resp.GetProperties())
	if got := out["stdout"].StringValue(); got != "hello" {
		t.Errorf("stdout %q, want %q (one trailing newline trimmed)", got, "hello")
	}
	if got := out["stderr"].StringValue(); got != "warn" {
		t.Errorf("stderr %q, want %q", got, "warn")
	}
	if !out["connection"].IsSecret() {
		t.Error("connection is not secret in the state")
	}
	if out["stdout"].IsSecret() {
		t.Error("stdout is secret; the real provider leaves it plain (only additionalSecretOutputs would make it secret)")
	}
	// logging unset: both streams go to the engine as status lines of the resource.
	status := strings.Join(log.lines(diag.Info, true), "|")
	if !strings.Contains(status, "hello") || !strings.Contains(status, "warn") {
		t.Errorf("status lines %q do not hold both streams", status)
	}
}

func TestOnlyOneTrailingNewlineIsTrimmed(t *testing.T) {
	srv := startTestServer(t, false)
	if got := createdStdout(t, inputs(srv.conn(nil), map[string]any{"create": `printf 'a\n\n'`})); got != "a\n" {
		t.Errorf("stdout %q, want %q", got, "a\n")
	}
}

func TestAnotherHostKeyIsRefusedAndEveryDialCounts(t *testing.T) {
	srv := startTestServer(t, false)
	other, _ := newEd25519Signer(t)
	log := &recordLog{}
	in := inputs(srv.conn(map[string]any{"hostKey": authorizedLine(other), "dialErrorLimit": float64(2)}),
		map[string]any{"create": "echo should-not-run"})
	_, err := create(t, newProvider(log), in, false)
	want := "after 2 failed attempts: ssh: handshake failed: ssh: host key mismatch"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	// dialErrorLimit 2: the first dial and two retries, each a full handshake refused on the host key.
	if n := srv.handshakes.Load(); n != 3 {
		t.Errorf("%d dials reached the server, want 3", n)
	}
	if got := log.lines(diag.Info, true); strings.Join(got, "|") != "Dial 1/2 failed: retrying|Dial 2/2 failed: retrying" {
		t.Errorf("status lines %q", got)
	}
}

func TestPinnedKeyOffersOnlyItsAlgorithm(t *testing.T) {
	srv := startTestServer(t, false) // the server has only an ed25519 host key
	pinned := newECDSASigner(t)
	in := inputs(srv.conn(map[string]any{"hostKey": authorizedLine(pinned), "dialErrorLimit": float64(0)}),
		map[string]any{"create": "true"})
	_, err := create(t, newProvider(&recordLog{}), in, false)
	if err == nil || !strings.HasPrefix(err.Error(),
		"after 0 failed attempts: ssh: handshake failed: ssh: no common algorithm for host key; we offered: [ecdsa-sha2-nistp256], peer offered: [ssh-ed25519]") {
		t.Fatalf("error %v: the client must offer only the pinned key's algorithm", err)
	}
	if n := srv.handshakes.Load(); n != 1 {
		t.Errorf("dialErrorLimit 0 dialled %d times, want 1", n)
	}
}

func TestUnsetHostKeyAcceptsAnyHostKey(t *testing.T) {
	srv := startTestServer(t, false)
	if got := createdStdout(t, inputs(srv.conn(map[string]any{"hostKey": nil}), map[string]any{"create": "echo ok"})); got != "ok" {
		t.Errorf("stdout %q", got)
	}
}

func TestBadHostKeyIsAParseErrorNotADial(t *testing.T) {
	srv := startTestServer(t, false)
	_, err := create(t, newProvider(&recordLog{}), inputs(srv.conn(map[string]any{"hostKey": "not a key"}), map[string]any{"create": "true"}), false)
	if err == nil || !strings.HasPrefix(err.Error(), "failed to parse host key: ") {
		t.Fatalf("error %v", err)
	}
	if n := srv.handshakes.Load(); n != 0 {
		t.Errorf("%d dials for an unparsable host key", n)
	}
}

func TestRefusedConnectionCountsAgainstTheLimit(t *testing.T) {
	srv := startTestServer(t, false)
	_ = srv.ln.Close() // nothing listens any more: connection refused
	log := &recordLog{}
	_, err := create(t, newProvider(log), inputs(srv.conn(map[string]any{"dialErrorLimit": float64(1)}), map[string]any{"create": "true"}), false)
	if err == nil || !strings.HasPrefix(err.Error(), "after 1 failed attempts: dial tcp "+srv.addr+": connect: connection refused") {
		t.Fatalf("error %v", err)
	}
	if got := log.lines(diag.Info, true); strings.Join(got, "|") != "Dial 1/1 failed: retrying" {
		t.Errorf("status lines %q", got)
	}
}

// As the real provider (commandOutputs.go's error, returned by commandController.go's Create through
// pulumi-go-provider v1.3.0's infer Create, which keeps ID and state only for a ResourceInitFailedError):
// a failing command fails Create with the exit status, the command line and the interleaved output,
// as a plain error (gRPC Unknown) without ErrorResourceInitFailed details.
func TestFailingCommandFailsCreateWithTheRealMessage(t *testing.T) {
	srv := startTestServer(t, false)
	cmd := "echo out; sleep 0.2; echo err >&2; exit 1"
	resp, err := create(t, newProvider(&recordLog{}), inputs(srv.conn(nil), map[string]any{"create": cmd}), false)
	if resp != nil {
		t.Errorf("a response with the error: %v", resp)
	}
	want := fmt.Sprintf("Process exited with status 1: running %q:\nout\nerr\n", cmd)
	if err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	st := status.Convert(err)
	if st.Code() != codes.Unknown || len(st.Details()) != 0 {
		t.Errorf("gRPC status %v with details %v; the real provider sends a plain error", st.Code(), st.Details())
	}
}

func TestStdinIsDeliveredThenEOF(t *testing.T) {
	srv := startTestServer(t, false)
	in := inputs(srv.conn(nil), map[string]any{"create": "bash -s", "stdin": "echo first\nread -r x || echo eof-reached\n"})
	if got := createdStdout(t, in); got != "first\neof-reached" {
		t.Errorf("stdout %q", got)
	}
}

func TestEnvironmentRefusedFailsAndPreviousOutputOnlyWarns(t *testing.T) {
	refusing := startTestServer(t, false)
	log := &recordLog{}
	p := newProvider(log)
	_, err := create(t, p, inputs(refusing.conn(nil), map[string]any{"create": "true", "environment": map[string]any{"FOO": "bar"}}), false)
	if err == nil || err.Error() != `could not set environment variable "FOO": ssh: setenv failed` {
		t.Fatalf("error %v", err)
	}
	if got := log.lines(diag.Error, false); len(got) != 1 || !strings.HasPrefix(got[0], "Unable to set 'FOO'. This only works if your SSH server is configured to accept\n") {
		t.Errorf("error log %q", got)
	}

	// Update with a previous stdout: PULUMI_COMMAND_STDOUT is refused, warned about, and the command runs.
	olds := inputs(refusing.conn(nil), map[string]any{"create": "echo one", "stdout": "one", "stderr": ""})
	news := inputs(refusing.conn(nil), map[string]any{"create": "echo two"})
	resp, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: testURN, Id: "probe1", Olds: mustMarshal(t, olds), News: mustMarshal(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustUnmarshal(t, resp.GetProperties())["stdout"].StringValue(); got != "two" {
		t.Errorf("stdout %q", got)
	}
	if got := log.lines(diag.Warning, false); len(got) != 1 || !strings.HasPrefix(got[0], "Unable to set 'PULUMI_COMMAND_STDOUT'.") {
		t.Errorf("warnings %q", got)
	}
}

func TestPreviousOutputInEnvironment(t *testing.T) {
	accepting := startTestServer(t, true)
	p := newProvider(&recordLog{})
	run := func(add any) string {
		fields := map[string]any{"update": `echo "prev=${PULUMI_COMMAND_STDOUT:-unset}"`, "create": "true"}
		if add != nil {
			fields["addPreviousOutputInEnv"] = add
		}
		olds := inputs(accepting.conn(nil), map[string]any{"create": "true", "stdout": "earlier", "stderr": ""})
		resp, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{
			Urn: testURN, Id: "probe1", Olds: mustMarshal(t, olds), News: mustMarshal(t, inputs(accepting.conn(nil), fields)),
		})
		if err != nil {
			t.Fatal(err)
		}
		return mustUnmarshal(t, resp.GetProperties())["stdout"].StringValue()
	}
	if got := run(nil); got != "prev=earlier" {
		t.Errorf("default (true): %q", got)
	}
	if got := run(false); got != "prev=unset" {
		t.Errorf("addPreviousOutputInEnv false: %q", got)
	}
}

func TestLoggingStderrOnly(t *testing.T) {
	srv := startTestServer(t, false)
	log := &recordLog{}
	_, err := create(t, newProvider(log), inputs(srv.conn(nil), map[string]any{"create": "echo evidence; echo progress >&2", "logging": "stderr"}), false)
	if err != nil {
		t.Fatal(err)
	}
	if got := log.lines(diag.Info, true); strings.Join(got, "|") != "progress" {
		t.Errorf("status lines %q, want only stderr", got)
	}
}

func TestPreviewRunsNothing(t *testing.T) {
	srv := startTestServer(t, false)
	resp, err := create(t, newProvider(&recordLog{}), inputs(srv.conn(nil), map[string]any{"create": "echo x"}), true)
	if err != nil {
		t.Fatal(err)
	}
	out := mustUnmarshal(t, resp.GetProperties())
	if !out["stdout"].IsComputed() || !out["stderr"].IsComputed() {
		t.Errorf("preview outputs %v: stdout and stderr should be unknown", out)
	}
	if out["create"].StringValue() != "echo x" || resp.GetId() == "" {
		t.Errorf("preview %v", resp)
	}
	if n := srv.handshakes.Load(); n != 0 {
		t.Errorf("a preview dialled %d times", n)
	}
}

func TestCheckAppliesDefaultsAndSecrets(t *testing.T) {
	p := newProvider(&recordLog{})
	news := resource.PropertyMap{
		"create": resource.NewStringProperty("true"),
		"connection": resource.NewObjectProperty(resource.PropertyMap{
			"host": resource.NewStringProperty("10.0.0.4"), "password": resource.NewStringProperty("pw"),
		}),
	}
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, News: mustMarshal(t, news)})
	if err != nil || len(resp.GetFailures()) != 0 {
		t.Fatalf("check: %v %v", err, resp.GetFailures())
	}
	got := mustUnmarshal(t, resp.GetInputs())
	conn := got["connection"]
	if !conn.IsSecret() {
		t.Fatal("connection is not secret after Check")
	}
	c := conn.SecretValue().Element.ObjectValue()
	want := map[string]any{"host": "10.0.0.4", "user": "root", "port": 22.0, "dialErrorLimit": 10.0, "perDialTimeout": 15.0}
	for k, v := range want {
		if c[resource.PropertyKey(k)].V != v {
			t.Errorf("connection.%s = %v, want %v", k, c[resource.PropertyKey(k)].V, v)
		}
	}
	if !c["password"].IsSecret() {
		t.Error("connection.password is not secret")
	}
	if _, ok := got["addPreviousOutputInEnv"]; ok {
		t.Error("addPreviousOutputInEnv got a default; the real provider leaves it absent (true when run)")
	}

	// Given values are kept; a missing connection or host is a check failure.
	news["connection"] = resource.NewObjectProperty(resource.PropertyMap{
		"host": resource.NewStringProperty("h"), "user": resource.NewStringProperty("azureuser"),
		"dialErrorLimit": resource.NewNumberProperty(-1),
	})
	resp, _ = p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, News: mustMarshal(t, news)})
	c = mustUnmarshal(t, resp.GetInputs())["connection"].SecretValue().Element.ObjectValue()
	if c["user"].StringValue() != "azureuser" || c["dialErrorLimit"].NumberValue() != -1 {
		t.Errorf("given values overridden: %v", c)
	}
	resp, _ = p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, News: mustMarshal(t, resource.PropertyMap{
		"connection": resource.NewObjectProperty(resource.PropertyMap{"user": resource.NewStringProperty("u")}),
	})})
	if f := resp.GetFailures(); len(f) != 1 || f[0].GetProperty() != "connection.host" {
		t.Errorf("failures %v", f)
	}
	resp, _ = p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, News: mustMarshal(t, resource.PropertyMap{})})
	if f := resp.GetFailures(); len(f) != 1 || f[0].GetReason() != "Missing required field 'connection' on 'remote.CommandInputs'" {
		t.Errorf("failures %v", f)
	}
	// An unknown connection (a preview before the VM's address is known) passes as it is.
	resp, _ = p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, News: mustMarshal(t, resource.PropertyMap{
		"connection": resource.MakeComputed(resource.NewStringProperty("")),
	})})
	if len(resp.GetFailures()) != 0 || !mustUnmarshal(t, resp.GetInputs())["connection"].ContainsUnknowns() {
		t.Errorf("unknown connection: %v", resp)
	}
}

func TestDiff(t *testing.T) {
	p := newProvider(&recordLog{})
	base := func(fields map[string]any) resource.PropertyMap {
		m := resource.NewPropertyMapFromMap(fields)
		m["connection"] = resource.MakeSecret(resource.NewObjectProperty(resource.PropertyMap{"host": resource.NewStringProperty("h")}))
		return m
	}
	diff := func(olds, news resource.PropertyMap) *pulumirpc.DiffResponse {
		state := olds.Copy()
		state["stdout"] = resource.NewStringProperty("x")
		state["stderr"] = resource.NewStringProperty("")
		resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: testURN, Id: "probe1", Olds: mustMarshal(t, state), News: mustMarshal(t, news)})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	kinds := func(r *pulumirpc.DiffResponse) string {
		var parts []string
		for _, k := range sortedKeys(func() map[string]bool {
			m := map[string]bool{}
			for k := range r.GetDetailedDiff() {
				m[k] = true
			}
			return m
		}()) {
			parts = append(parts, k+"="+r.GetDetailedDiff()[k].GetKind().String())
		}
		return strings.Join(parts, ",")
	}

	same := base(map[string]any{"create": "a", "triggers": []any{"v1"}})
	if r := diff(same, same.Copy()); r.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE || len(r.GetDetailedDiff()) != 0 {
		t.Errorf("no change: %v", r)
	}
	// A changed trigger element: an update as the provider reports it (the engine replaces, from the
	// SDK's replaceOnChanges ["triggers[*]"]).
	r := diff(same, base(map[string]any{"create": "a", "triggers": []any{"v2"}}))
	if r.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || kinds(r) != "triggers[0]=UPDATE" || len(r.GetReplaces()) != 0 ||
		strings.Join(r.GetDiffs(), ",") != "triggers" {
		t.Errorf("trigger element changed: %s replaces %v diffs %v", kinds(r), r.GetReplaces(), r.GetDiffs())
	}
	// Triggers added or removed as a whole: replace (replaceOnChanges on the property).
	r = diff(base(map[string]any{"create": "a"}), same)
	if kinds(r) != "triggers=ADD_REPLACE" || strings.Join(r.GetReplaces(), ",") != "triggers" {
		t.Errorf("triggers added: %s replaces %v", kinds(r), r.GetReplaces())
	}
	r = diff(same, base(map[string]any{"create": "a"}))
	if kinds(r) != "triggers=DELETE_REPLACE" {
		t.Errorf("triggers removed: %s", kinds(r))
	}
	// Anything else is an update in place.
	r = diff(same, base(map[string]any{"create": "b", "stdin": "s", "triggers": []any{"v1"}}))
	if kinds(r) != "create=UPDATE,stdin=ADD" || len(r.GetReplaces()) != 0 {
		t.Errorf("create and stdin changed: %s replaces %v", kinds(r), r.GetReplaces())
	}
	// ignoreChanges keeps the state's value.
	resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{
		Urn: testURN, Id: "probe1", Olds: mustMarshal(t, same), News: mustMarshal(t, base(map[string]any{"create": "b", "triggers": []any{"v1"}})),
		IgnoreChanges: []string{"create"},
	})
	if err != nil || resp.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("ignoreChanges create: %v %v", resp, err)
	}
}

func TestPluginInfoAndOtherResourceTypes(t *testing.T) {
	p := newProvider(&recordLog{})
	info, err := p.GetPluginInfo(context.Background(), nil)
	if err != nil || info.GetVersion() != "1.2.1" {
		t.Errorf("plugin info %v %v", info, err)
	}
	_, err = p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: "urn:pulumi:dev::proj::command:local:Command::x"})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "command:local:Command") {
		t.Errorf("local command: %v", err)
	}
}

func TestThroughAProxy(t *testing.T) {
	bastion := startTestServer(t, false)
	target := startTestServer(t, false)
	proxy := bastion.conn(nil).SecretValue().Element.ObjectValue()
	in := inputs(target.conn(map[string]any{"proxy": proxy.Mappable()}), map[string]any{"create": "echo via-bastion"})
	if got := createdStdout(t, in); got != "via-bastion" {
		t.Errorf("stdout %q", got)
	}
	if bastion.forwards.Load() != 1 || target.handshakes.Load() != 1 {
		t.Errorf("forwards through the bastion %d, handshakes at the target %d; want 1 and 1", bastion.forwards.Load(), target.handshakes.Load())
	}

	// The target's host key checked through the tunnel too, every failure prefixed "proxy: ".
	other, _ := newEd25519Signer(t)
	in = inputs(target.conn(map[string]any{"proxy": proxy.Mappable(), "hostKey": authorizedLine(other), "dialErrorLimit": float64(0)}), map[string]any{"create": "true"})
	_, err := create(t, newProvider(&recordLog{}), in, false)
	if err == nil || err.Error() != "proxy: after 0 failed attempts: ssh: handshake failed: ssh: host key mismatch" {
		t.Fatalf("error %v", err)
	}
}

// A field of another type is refused by name, the first one met; null and absent fields are unset.
func TestParseStateRefusesFieldsOfAnotherType(t *testing.T) {
	cases := []struct {
		name  string
		props resource.PropertyMap
		want  string
	}{
		{"create as a number", resource.PropertyMap{"create": resource.NewNumberProperty(1)}, "create must be a string, not number"},
		{"the first of two", resource.PropertyMap{
			"create": resource.NewBoolProperty(true), "stdin": resource.NewNumberProperty(2),
		}, "create must be a string, not bool"},
		{"a connection's port as a string", resource.PropertyMap{"connection": resource.NewObjectProperty(resource.PropertyMap{
			"host": resource.NewStringProperty("127.0.0.1"), "port": resource.NewStringProperty("22"),
		})}, "connection: port must be a number, not string"},
		{"a proxy's dialErrorLimit as a string", resource.PropertyMap{"connection": resource.NewObjectProperty(resource.PropertyMap{
			"host": resource.NewStringProperty("h"),
			"proxy": resource.NewObjectProperty(resource.PropertyMap{
				"host": resource.NewStringProperty("p"), "dialErrorLimit": resource.NewStringProperty("3"),
			}),
		})}, "connection: proxy: dialErrorLimit must be a number, not string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseState(c.props)
			if err == nil || err.Error() != c.want {
				t.Fatalf("parseState error = %v, want %q", err, c.want)
			}
		})
	}

	s, err := parseState(resource.PropertyMap{
		"create": resource.NewStringProperty("x"), "update": resource.NewNullProperty(),
		"connection": resource.NewObjectProperty(resource.PropertyMap{
			"host": resource.NewStringProperty("h"), "dialErrorLimit": resource.NewNumberProperty(60),
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if *s.Create != "x" || s.Update != nil || s.Connection.Port != nil || *s.Connection.DialErrorLimit != 60 {
		t.Fatalf("parsed %+v, connection %+v", s, s.Connection)
	}
}
