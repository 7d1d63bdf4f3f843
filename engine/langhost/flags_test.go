package main

import (
	"flag"
	"io"
	"reflect"
	"testing"
)

// The command line sdk/v3 v3.206.0 (the plugin host inside pulumi-language-yaml v1.25.0) starts a Node.js
// plugin's language host with: each runtime option as -<name>=<value>, then -root, then the engine address.
var oldPluginHostArgs = []string{"-typescript=false", "-root=/work/components/package", "127.0.0.1:40123"}

func TestObsoleteFlagsAreAcceptedAndTheEngineAddressStaysTheFirstArgument(t *testing.T) {
	fs := flag.NewFlagSet("pulumi-language-nodejs", flag.ContinueOnError)
	fs.String("runtime", "nodejs", "")
	acceptObsoleteFlags(fs)
	if err := fs.Parse(oldPluginHostArgs); err != nil {
		t.Fatalf("parse: %v", err)
	}
	if got := fs.Args(); !reflect.DeepEqual(got, []string{"127.0.0.1:40123"}) {
		t.Fatalf("positional arguments = %v, want the engine address alone", got)
	}
}

func TestWithoutTheObsoleteFlagsTheOldCommandLineIsRefused(t *testing.T) {
	fs := flag.NewFlagSet("pulumi-language-nodejs", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("runtime", "nodejs", "")
	// What pulumi-language-yaml v1.25.0 sent for a PulumiPlugin.yaml with `runtime: nodejs` and no options.
	err := fs.Parse([]string{"-root=/work/components/package", "127.0.0.1:40123"})
	if err == nil || err.Error() != "flag provided but not defined: -root" {
		t.Fatalf("err = %v, want the refusal the YAML host's plugin load failed with", err)
	}
}
