package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func TestPluginOfFollowsPulumisNamingRules(t *testing.T) {
	cases := []struct {
		info          packageJSON
		name, version string
		wantErr       string
	}{
		{info: packageJSON{Name: "@pulumi/azure-native", Version: "3.28.0", Pulumi: plugin.PulumiPluginJSON{Resource: true}},
			name: "azure-native", version: "v3.28.0"},
		{info: packageJSON{Name: "@pulumi/command", Version: "1.2.1",
			Pulumi: plugin.PulumiPluginJSON{Resource: true, Version: "v1.2.1-alpha.1"}},
			name: "command", version: "v1.2.1-alpha.1"},
		{info: packageJSON{Name: "@acme/thing", Version: "1.0.0", Pulumi: plugin.PulumiPluginJSON{Resource: true, Name: "thing"}},
			name: "thing", version: "v1.0.0"},
		{info: packageJSON{Name: "@acme/thing", Version: "1.0.0", Pulumi: plugin.PulumiPluginJSON{Resource: true}},
			wantErr: "must name its plugin"},
		{info: packageJSON{Name: "@pulumi/tls", Pulumi: plugin.PulumiPluginJSON{Resource: true}}, wantErr: "missing \"version\""},
	}
	for _, c := range cases {
		dep, err := pluginOf(c.info)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", c.info.Name, err, c.wantErr)
			}
			continue
		}
		if err != nil || dep.Name != c.name || dep.Version != c.version || dep.Kind != "resource" {
			t.Errorf("%s: got %v, %v; want %s %s", c.info.Name, dep, err, c.name, c.version)
		}
	}
	if dep, err := pluginOf(packageJSON{Name: "@pulumi/pulumi", Version: "3.248.0"}); dep != nil || err != nil {
		t.Errorf("a package without a resource plugin: got %v, %v", dep, err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPackagesFromDirFindsPluginsInNodeModulesOnly(t *testing.T) {
	dir := t.TempDir()
	res := map[string]any{"resource": true}
	// The program's own package.json is not a plugin source, even with "pulumi".
	writeJSON(t, filepath.Join(dir, "package.json"), map[string]any{"name": "@pulumi/prog", "version": "9.9.9", "pulumi": res})
	writeJSON(t, filepath.Join(dir, "node_modules", "@pulumi", "tls", "package.json"),
		map[string]any{"name": "@pulumi/tls", "version": "5.6.1", "pulumi": res})
	writeJSON(t, filepath.Join(dir, "node_modules", "@pulumi", "pulumi", "package.json"),
		map[string]any{"name": "@pulumi/pulumi", "version": "3.248.0"})
	// Nested copies count too; a linked folder is walked once.
	writeJSON(t, filepath.Join(dir, "node_modules", "x", "node_modules", "@pulumi", "command", "package.json"),
		map[string]any{"name": "@pulumi/command", "version": "1.2.1", "pulumi": res})
	if err := os.Symlink(filepath.Join(dir, "node_modules", "x"), filepath.Join(dir, "node_modules", "y")); err != nil {
		t.Fatal(err)
	}
	// A policy pack's plugins are not the program's.
	writeJSON(t, filepath.Join(dir, "node_modules", "pack", "node_modules", "@pulumi", "aws", "package.json"),
		map[string]any{"name": "@pulumi/aws", "version": "6.0.0", "pulumi": res})
	if err := os.WriteFile(filepath.Join(dir, "node_modules", "pack", "PulumiPolicy.yaml"), []byte("runtime: nodejs\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	pkgs, err := packagesFromDir(dir, false, map[string]bool{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pkgs {
		got = append(got, p.Name+"@"+p.Version)
	}
	sort.Strings(got)
	if want := []string{"command@v1.2.1", "tls@v5.6.1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestRunArgsAndConfigAreWhatPulumiPulumiCmdRunReads(t *testing.T) {
	req := &pulumirpc.RunRequest{
		MonitorAddress: "127.0.0.1:1", Project: "p", Stack: "s", Organization: "org", DryRun: true, Parallel: 4,
		Info:             &pulumirpc.ProgramInfo{ProgramDirectory: "/prog", EntryPoint: ".", RootDirectory: "/prog"},
		Config:           map[string]string{"vm-identity-access:vmCount": "3", "azure-native:location": "westeurope"},
		ConfigSecretKeys: []string{"vm-identity-access:sshPublicKey"},
		Args:             []string{"extra"},
	}
	got := runArgs(req, "/n/run", "127.0.0.1:2", "")
	want := []string{"/n/run", "--monitor", "127.0.0.1:1", "--engine", "127.0.0.1:2", "--organization", "org",
		"--project", "p", "--root-directory", "/prog", "--stack", "s", "--pwd", "/prog", "--dry-run",
		"--parallel", "4", ".", "extra"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("runArgs:\n got %q\nwant %q", got, want)
	}

	env, err := configEnv(req)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]string
	if err := json.Unmarshal([]byte(strings.TrimPrefix(env[0], "PULUMI_CONFIG=")), &cfg); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"vm-identity-access:config:vmCount": "3", "azure-native:config:location": "westeurope"}; !reflect.DeepEqual(cfg, want) {
		t.Errorf("PULUMI_CONFIG %v, want %v", cfg, want)
	}
	if env[1] != `PULUMI_CONFIG_SECRET_KEYS=["vm-identity-access:sshPublicKey"]` {
		t.Errorf("secret keys: %s", env[1])
	}
	empty, _ := configEnv(&pulumirpc.RunRequest{})
	if !reflect.DeepEqual(empty, []string{"PULUMI_CONFIG={}", "PULUMI_CONFIG_SECRET_KEYS=[]"}) {
		t.Errorf("empty config: %v", empty)
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions(map[string]any{})
	if err != nil || !o.typescript || len(o.env()) != 1 {
		t.Errorf("defaults: %+v %v", o, err)
	}
	o, err = parseOptions(map[string]any{"typescript": false, "tsconfig": "tsconfig.json", "nodeargs": "--max-old-space-size=4096 --trace-warnings"})
	if err != nil || o.typescript || !reflect.DeepEqual(o.nodeargs, []string{"--max-old-space-size=4096", "--trace-warnings"}) ||
		!reflect.DeepEqual(o.env(), []string{"PULUMI_NODEJS_TSCONFIG_PATH=tsconfig.json"}) {
		t.Errorf("options: %+v %v", o, err)
	}
	if _, err := parseOptions(map[string]any{"typescript": "yes"}); err == nil {
		t.Error("a non-boolean typescript option must be refused")
	}
}
