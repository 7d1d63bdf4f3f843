package main

// The gRPC side of the stand-in: pulumirpc.ResourceProviderServer for command:remote:Command.
//
// The real provider states its resource as Go types (provider/pkg/provider/remote/command.go,
// commandController.go, baseOutputs.go, provider/pkg/provider/common/inputs.go) and leaves Check,
// Diff, Read, the preview values and the error-to-gRPC mapping to pulumi-go-provider v1.3.0
// (infer/resource.go: derivedResourceController Check/Diff/Create/Read/Update/Delete;
// infer/apply_defaults.go, infer/apply_secrets.go; provider.go: Configure, Create/Update, DiffResponse.rpc).
// Here the same outcomes are produced directly on property maps.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const remoteCommandType = "command:remote:Command"

// inputKeys are remote.Command's inputs (CommandInputs with the embedded common.ResourceInputs); the
// state is these plus stdout and stderr (CommandOutputs), so anything else in the inputs is dropped.
var inputKeys = []resource.PropertyKey{
	"triggers", "create", "update", "delete", "stdin", "logging", "connection", "environment", "addPreviousOutputInEnv",
}

type commandProvider struct {
	pulumirpc.UnimplementedResourceProviderServer

	log logSink

	mu                sync.Mutex
	supportsOldInputs bool
	cancelCtx         context.Context
	cancel            context.CancelFunc
}

func newProvider(log logSink) *commandProvider {
	ctx, cancel := context.WithCancel(context.Background())
	return &commandProvider{log: log, cancelCtx: ctx, cancel: cancel}
}

// opContext ends when the request's context does or when the engine sends Cancel (pulumi-go-provider
// cancels in-flight requests on Cancel), so a dial that is still retrying stops.
func (p *commandProvider) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(p.cancelCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	return plugin.UnmarshalProperties(s, plugin.MarshalOptions{
		KeepUnknowns: true, SkipNulls: true, KeepResources: true, KeepSecrets: true,
	})
}

// marshal keeps output values, so that a secret unknown (an unknown connection after Check) stays
// secret on the wire, as pulumi-go-provider sends it.
func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, plugin.MarshalOptions{
		KeepUnknowns: true, SkipNulls: true, KeepResources: true, KeepSecrets: true, KeepOutputValues: true,
	})
}

func checkType(urn string) error {
	if t := string(resource.URN(urn).Type()); t != remoteCommandType {
		return status.Errorf(codes.Unimplemented,
			"%s is not served by this stand-in command provider (engine/commandhost serves only %s)", t, remoteCommandType)
	}
	return nil
}

// properties is every request's first step: the resource must be a remote.Command, then its
// properties are read off the wire.
func properties(urn string, s *structpb.Struct) (resource.PropertyMap, error) {
	if err := checkType(urn); err != nil {
		return nil, err
	}
	return unmarshal(s)
}

// runStep runs one of the command's steps (create, update or delete) when the program set it; a
// step left unset runs nothing, as in the real provider.
func (p *commandProvider) runStep(ctx context.Context, state *commandState, step *string, urn string) error {
	if step == nil {
		return nil
	}
	ctx, cancel := p.opContext(ctx)
	defer cancel()
	return state.run(ctx, *step, logger{p.log, urn})
}

func (p *commandProvider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (p *commandProvider) Attach(context.Context, *pulumirpc.PluginAttach) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (p *commandProvider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	p.cancel()
	return &emptypb.Empty{}, nil
}

// GetSchema answers with a schema of our own, reduced to what this stand-in serves (the real one
// embeds its generated schema.json).
func (p *commandProvider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	b, err := json.Marshal(schema())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetSchemaResponse{Schema: string(b)}, nil
}

// CheckConfig and DiffConfig: the provider has no configuration (provider.go's infer.Provider has no Config).
func (p *commandProvider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *commandProvider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

// Configure answers as pulumi-go-provider's provider.Configure does, except AcceptOutputs: the engine
// then sends secrets and unknowns as plain sentinels instead of output values, which is all this
// provider reads. Old inputs are used in Diff when the engine says it sends them (as infer's diff).
func (p *commandProvider) Configure(_ context.Context, req *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	p.mu.Lock()
	p.supportsOldInputs = req.GetSendsOldInputs() && req.GetSendsOldInputsToDelete()
	p.mu.Unlock()
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true, AcceptResources: true}, nil
}

// Check: the inputs must hold a connection with a host (infer's decoding reports a missing required
// field as a check failure); the connection (and a proxy in it) gets the defaults of
// Connection.Annotate (user root, port 22, dialErrorLimit 10, perDialTimeout 15) where a field is
// absent; `connection` is secret, and so are password, privateKey and privateKeyPassword inside it
// (the `provider:"secret"` tags that infer's applySecrets applies). Nothing else gets a default:
// addPreviousOutputInEnv stays absent (true when run), logging too (both streams).
func (p *commandProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	conn, ok := news["connection"]
	if !ok || conn.IsNull() {
		failures = append(failures, &pulumirpc.CheckFailure{
			Property: "connection", Reason: "Missing required field 'connection' on 'remote.CommandInputs'",
		})
	} else {
		withDefaults, connFailures := connectionWithDefaults(conn, "connection", true)
		failures = append(failures, connFailures...)
		news["connection"] = secret(withDefaults)
	}
	inputs, err := marshal(news)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: failures}, nil
}

// connectionWithDefaults fills the defaults into a known connection object (an unknown one, as in a
// preview before the VM's address is known, is left as it is) and marks its secret fields.
func connectionWithDefaults(v resource.PropertyValue, path string, top bool) (resource.PropertyValue, []*pulumirpc.CheckFailure) {
	wasSecret := v.IsSecret()
	inner := plain(v)
	if !inner.IsObject() {
		return v, nil
	}
	obj := inner.ObjectValue().Copy()
	var failures []*pulumirpc.CheckFailure
	if h, ok := obj["host"]; !ok || h.IsNull() {
		typ := "remote.Connection"
		if !top {
			typ = "remote.ProxyConnection"
		}
		failures = append(failures, &pulumirpc.CheckFailure{
			Property: path + ".host", Reason: fmt.Sprintf("Missing required field 'host' on '%s'", typ),
		})
	}
	setDefault := func(k resource.PropertyKey, d resource.PropertyValue) {
		if cur, ok := obj[k]; !ok || cur.IsNull() {
			obj[k] = d
		}
	}
	setDefault("user", resource.NewStringProperty(defaultUser))
	setDefault("port", resource.NewNumberProperty(defaultPort))
	setDefault("dialErrorLimit", resource.NewNumberProperty(defaultDialErrorLimit))
	setDefault("perDialTimeout", resource.NewNumberProperty(defaultPerDialTimeout))
	for _, k := range []resource.PropertyKey{"password", "privateKey", "privateKeyPassword"} {
		if cur, ok := obj[k]; ok && !cur.IsNull() {
			obj[k] = secret(cur)
		}
	}
	if top {
		if proxy, ok := obj["proxy"]; ok && !proxy.IsNull() {
			withDefaults, proxyFailures := connectionWithDefaults(proxy, path+".proxy", false)
			obj["proxy"] = withDefaults
			failures = append(failures, proxyFailures...)
		}
	}
	out := resource.NewObjectProperty(obj)
	if wasSecret {
		out = resource.MakeSecret(out)
	}
	return out, failures
}

func plain(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// secret marks v secret; an unknown value becomes an unknown secret output value, the form
// pulumi-go-provider sends it in (the engine reads both forms alike).
func secret(v resource.PropertyValue) resource.PropertyValue {
	if v.IsSecret() || (v.IsOutput() && v.OutputValue().Secret) {
		return v
	}
	if v.IsComputed() {
		return resource.NewProperty(resource.Output{Element: resource.NewProperty(""), Known: false, Secret: true})
	}
	return resource.MakeSecret(v)
}

// Diff follows infer's default diff for a resource with an Update: old inputs (from the engine when it
// sends them, else the state's input fields) against the new ones, without `version` and
// `__`-prefixed keys and with ignoreChanges taken from the state; each changed path is an update,
// except a change of a property whose schema says replaceOnChanges, which is only `triggers`
// (common/inputs.go) and matches only the path "triggers" itself: adding or removing the whole list
// replaces, while a change of an element ("triggers[0]") is reported as an update, and the engine
// replaces it because @pulumi/command registers every Command with replaceOnChanges ["triggers[*]"].
// DeleteBeforeReplace is never set.
func (p *commandProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	state, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	for _, k := range req.GetIgnoreChanges() {
		if v, ok := state[resource.PropertyKey(k)]; ok {
			news[resource.PropertyKey(k)] = v
		}
	}
	for k := range news {
		if k == "version" || strings.HasPrefix(string(k), "__") {
			delete(news, k)
		}
	}
	p.mu.Lock()
	useOldInputs := p.supportsOldInputs
	p.mu.Unlock()
	var olds resource.PropertyMap
	if useOldInputs {
		if olds, err = unmarshal(req.GetOldInputs()); err != nil {
			return nil, err
		}
	} else {
		olds = resource.PropertyMap{}
		for _, k := range inputKeys {
			if v, ok := state[k]; ok {
				olds[k] = v
			}
		}
	}
	return diffInputs(olds, news), nil
}

func diffInputs(olds, news resource.PropertyMap) *pulumirpc.DiffResponse {
	objDiff := olds.Diff(news)
	detailed := map[string]*pulumirpc.PropertyDiff{}
	diffs, replaces := map[string]bool{}, map[string]bool{}
	for path, d := range plugin.NewDetailedDiffFromObjectDiff(objDiff, false) {
		kind := d.Kind
		if path == "triggers" {
			kind = kind.AsReplace()
		}
		var rpcKind pulumirpc.PropertyDiff_Kind
		switch kind {
		case plugin.DiffAdd:
			rpcKind = pulumirpc.PropertyDiff_ADD
		case plugin.DiffAddReplace:
			rpcKind = pulumirpc.PropertyDiff_ADD_REPLACE
		case plugin.DiffDelete:
			rpcKind = pulumirpc.PropertyDiff_DELETE
		case plugin.DiffDeleteReplace:
			rpcKind = pulumirpc.PropertyDiff_DELETE_REPLACE
		case plugin.DiffUpdate:
			rpcKind = pulumirpc.PropertyDiff_UPDATE
		case plugin.DiffUpdateReplace:
			rpcKind = pulumirpc.PropertyDiff_UPDATE_REPLACE
		default:
			continue
		}
		detailed[path] = &pulumirpc.PropertyDiff{Kind: rpcKind, InputDiff: d.InputDiff}
		head := path
		if pp, err := resource.ParsePropertyPath(path); err == nil && len(pp) > 0 {
			if s, ok := pp[0].(string); ok {
				head = s
			}
		}
		diffs[head] = true
		if kind.IsReplace() {
			replaces[head] = true
		}
	}
	changes := pulumirpc.DiffResponse_DIFF_NONE
	if objDiff.AnyChanges() {
		changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return &pulumirpc.DiffResponse{
		Changes:         changes,
		DetailedDiff:    detailed,
		HasDetailedDiff: true,
		Diffs:           sortedKeys(diffs),
		Replaces:        sortedKeys(replaces),
	}
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// outputs is the state for the given inputs and outputs: the inputs remote.Command knows (secrets as
// they came) plus stdout and stderr.
func outputs(inputs resource.PropertyMap, stdout, stderr resource.PropertyValue) resource.PropertyMap {
	out := resource.PropertyMap{}
	for _, k := range inputKeys {
		if v, ok := inputs[k]; ok && !v.IsNull() {
			out[k] = v
		}
	}
	out["stdout"] = stdout
	out["stderr"] = stderr
	return out
}

func unknownOutput() resource.PropertyValue {
	return resource.MakeComputed(resource.NewStringProperty(""))
}

// Create follows commandController.go Create: an ID from resource.NewUniqueHex(name, 8, 0) (in a
// preview too); a preview runs nothing and its stdout and stderr are unknown (infer marks outputs that
// are not inputs computed in a create preview); without `create` nothing runs and stdout and stderr
// are empty; otherwise `create` runs.
//
// When the command fails the real provider returns the ID and state together with the error, but
// pulumi-go-provider v1.3.0 (infer/resource.go derivedResourceController.Create) passes them on only
// for an infer.ResourceInitFailedError, which remote.Command never returns: the plain error goes back
// alone (gRPC code Unknown), and the engine records nothing for the resource. The next `pulumi up`
// therefore creates it again (a new ID). This stand-in does exactly that; see engine/README.md.
func (p *commandProvider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	inputs, err := properties(req.GetUrn(), req.GetProperties())
	if err != nil {
		return nil, err
	}
	id, err := resource.NewUniqueHex(resource.URN(req.GetUrn()).Name(), 8, 0)
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		return createResponse(id, outputs(inputs, unknownOutput(), unknownOutput()))
	}
	state, err := parseState(inputs)
	if err != nil {
		return nil, err
	}
	if err := p.runStep(ctx, state, state.Create, req.GetUrn()); err != nil {
		return nil, err
	}
	return createResponse(id, outputs(inputs, resource.NewStringProperty(state.Stdout), resource.NewStringProperty(state.Stderr)))
}

func createResponse(id string, state resource.PropertyMap) (*pulumirpc.CreateResponse, error) {
	props, err := marshal(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

// Update follows commandController.go Update: the new inputs with the old stdout and stderr; a
// preview runs nothing (stdout and stderr unknown when any input changed or is unknown, as infer's
// computedness flow has every output depend on every input); otherwise `update` runs, or `create`
// when there is no `update`, or nothing. A failure returns the error alone and the engine keeps the
// old state, so the next `pulumi up` tries the update again.
func (p *commandProvider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	olds, err := properties(req.GetUrn(), req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	oldState, err := parseState(olds)
	if err != nil {
		return nil, err
	}
	stdout := resource.NewStringProperty(oldState.Stdout)
	stderr := resource.NewStringProperty(oldState.Stderr)
	if req.GetPreview() {
		for _, k := range inputKeys {
			n, o := news[k], olds[k]
			_, hadOld := olds[k]
			if n.ContainsUnknowns() || (hadOld && !n.DeepEquals(o)) {
				stdout, stderr = unknownOutput(), unknownOutput()
				break
			}
		}
		return updateResponse(outputs(news, stdout, stderr))
	}
	state, err := parseState(news)
	if err != nil {
		return nil, err
	}
	state.Stdout, state.Stderr = oldState.Stdout, oldState.Stderr
	step := state.Update
	if step == nil {
		step = state.Create
	}
	if err := p.runStep(ctx, state, step, req.GetUrn()); err != nil {
		return nil, err
	}
	return updateResponse(outputs(news, resource.NewStringProperty(state.Stdout), resource.NewStringProperty(state.Stderr)))
}

func updateResponse(state resource.PropertyMap) (*pulumirpc.UpdateResponse, error) {
	props, err := marshal(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

// Delete follows commandController.go Delete: `delete` runs (with the state's connection, and its
// stdout and stderr as PULUMI_COMMAND_STDOUT/STDERR unless addPreviousOutputInEnv is false); without
// it nothing does. A failure keeps the resource in the state.
func (p *commandProvider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	props, err := properties(req.GetUrn(), req.GetProperties())
	if err != nil {
		return nil, err
	}
	state, err := parseState(props)
	if err != nil {
		return nil, err
	}
	if err := p.runStep(ctx, state, state.Delete, req.GetUrn()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Read: remote.Command has no Read of its own, and infer's default returns the ID, state and inputs
// as they are (a refresh changes nothing and runs nothing).
func (p *commandProvider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

// typedFields reads optional fields of a property map (secrets unwrapped, null or absent as nil),
// keeping the first field whose value has another type.
type typedFields struct {
	m   resource.PropertyMap
	err error
}

func (f *typedFields) mismatch(k resource.PropertyKey, want string, v resource.PropertyValue) {
	if !v.IsNull() && f.err == nil {
		f.err = fmt.Errorf("%s must be a %s, not %s", k, want, v.TypeString())
	}
}

func (f *typedFields) str(k resource.PropertyKey) *string {
	v := plain(f.m[k])
	if v.IsString() {
		x := v.StringValue()
		return &x
	}
	f.mismatch(k, "string", v)
	return nil
}

func (f *typedFields) num(k resource.PropertyKey) *float64 {
	v := plain(f.m[k])
	if v.IsNumber() {
		x := v.NumberValue()
		return &x
	}
	f.mismatch(k, "number", v)
	return nil
}

func (f *typedFields) integer(k resource.PropertyKey) *int {
	if x := f.num(k); x != nil {
		i := int(*x)
		return &i
	}
	return nil
}

// parseState reads the inputs (and stdout/stderr when present) into a commandState.
func parseState(m resource.PropertyMap) (*commandState, error) {
	s := &commandState{}
	f := &typedFields{m: m}
	s.Create, s.Update, s.Delete = f.str("create"), f.str("update"), f.str("delete")
	s.Stdin, s.Logging = f.str("stdin"), f.str("logging")
	if out := f.str("stdout"); out != nil {
		s.Stdout = *out
	}
	if out := f.str("stderr"); out != nil {
		s.Stderr = *out
	}
	if v := plain(m["addPreviousOutputInEnv"]); v.IsBool() {
		b := v.BoolValue()
		s.AddPreviousOutputInEnv = &b
	}
	if v := plain(m["environment"]); v.IsObject() {
		s.Environment = map[string]string{}
		for k, e := range v.ObjectValue() {
			if e = plain(e); e.IsString() {
				s.Environment[string(k)] = e.StringValue()
			}
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	if v := plain(m["connection"]); v.IsObject() {
		var err error
		s.Connection, err = parseConnection(v.ObjectValue(), true)
		if err != nil {
			return nil, fmt.Errorf("connection: %w", err)
		}
	} else if v.IsComputed() {
		return nil, errors.New("connection is unknown outside a preview")
	}
	return s, nil
}

func parseConnection(m resource.PropertyMap, top bool) (*connection, error) {
	c := &connection{}
	f := &typedFields{m: m}
	c.User, c.Password, c.Host = f.str("user"), f.str("password"), f.str("host")
	c.Port = f.num("port")
	c.PrivateKey, c.PrivateKeyPassword, c.AgentSocketPath = f.str("privateKey"), f.str("privateKeyPassword"), f.str("agentSocketPath")
	c.DialErrorLimit, c.PerDialTimeout = f.integer("dialErrorLimit"), f.integer("perDialTimeout")
	c.HostKey = f.str("hostKey")
	if f.err != nil {
		return nil, f.err
	}
	if top {
		if v := plain(m["proxy"]); v.IsObject() {
			var err error
			if c.Proxy, err = parseConnection(v.ObjectValue(), false); err != nil {
				return nil, fmt.Errorf("proxy: %w", err)
			}
		}
	}
	return c, nil
}
