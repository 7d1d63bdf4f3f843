package main

import "flag"

// obsoleteFlags are the flags older Pulumi plugin hosts put on a language host's command line: the
// project root and the runtime options of Pulumi.yaml / PulumiPlugin.yaml as `-<option>=<value>`
// (sdk/v3 before v3.209.0, `buildArgsForNewPlugin` in go/common/resource/plugin/langruntime_plugin.go).
// Pulumi's own Node.js host declared them as "[obsolete]" and ignored them until v3.214.0 (pulumi#21065
// removed them once the engine stopped sending them, pulumi#21054).
//
// The engine of v3.248.0 sends none of them, but pulumi-language-yaml v1.25.0 (built on sdk v3.206.0, the
// newest YAML host the Go module proxy here serves with its own dependencies) starts a component package's
// Node.js host itself to read its schema, with `-root=<folder>`: without these, that host exits with
// "flag provided but not defined: -root" and a YAML program cannot use a Node.js component package.
var obsoleteFlags = []string{"root", "typescript", "tsconfig", "nodeargs", "packagemanager"}

// acceptObsoleteFlags declares the obsolete flags on fs, each ignored: the options they carried reach the
// host through ProgramInfo.Options on every request, which is what the host reads.
func acceptObsoleteFlags(fs *flag.FlagSet) {
	for _, name := range obsoleteFlags {
		fs.String(name, "", "[obsolete] ignored: sent by plugin hosts older than sdk v3.209.0")
	}
}
