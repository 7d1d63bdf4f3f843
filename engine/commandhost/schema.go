package main

// schema is a Pulumi package schema of our own for what this stand-in serves: command:remote:Command
// with its inputs and outputs as @pulumi/command 1.2.1's SDK declares them (types only, no docs).
// `pulumi up` does not read it; `pulumi package get-schema` and tools do.
func schema() map[string]any {
	str := map[string]any{"type": "string"}
	secretStr := map[string]any{"type": "string", "secret": true}
	connectionProps := func(proxy bool) map[string]any {
		props := map[string]any{
			"host": str, "port": map[string]any{"type": "number", "default": defaultPort},
			"user":     map[string]any{"type": "string", "default": defaultUser},
			"password": secretStr, "privateKey": secretStr, "privateKeyPassword": secretStr,
			"agentSocketPath": str, "hostKey": str,
			"dialErrorLimit": map[string]any{"type": "integer", "default": defaultDialErrorLimit},
			"perDialTimeout": map[string]any{"type": "integer", "default": defaultPerDialTimeout},
		}
		if !proxy {
			props["proxy"] = map[string]any{"$ref": "#/types/command:remote:ProxyConnection"}
		}
		return props
	}
	inputs := map[string]any{
		"connection":             map[string]any{"$ref": "#/types/command:remote:Connection", "secret": true},
		"create":                 str,
		"update":                 str,
		"delete":                 str,
		"stdin":                  str,
		"logging":                map[string]any{"$ref": "#/types/command:remote:Logging"},
		"environment":            map[string]any{"type": "object", "additionalProperties": str},
		"addPreviousOutputInEnv": map[string]any{"type": "boolean"},
		"triggers": map[string]any{
			"type": "array", "items": map[string]any{"$ref": "pulumi.json#/Any"}, "replaceOnChanges": true,
		},
	}
	outputs := map[string]any{"stdout": str, "stderr": str}
	for k, v := range inputs {
		outputs[k] = v
	}
	enum := []map[string]any{}
	for _, v := range []string{"stdout", "stderr", "stdoutAndStderr", "none"} {
		enum = append(enum, map[string]any{"name": v, "value": v})
	}
	return map[string]any{
		"name":        "command",
		"version":     version,
		"description": "vm-identity-access engine/commandhost: a stand-in serving only command:remote:Command",
		"types": map[string]any{
			"command:remote:Connection": map[string]any{
				"type": "object", "properties": connectionProps(false), "required": []string{"host"},
			},
			"command:remote:ProxyConnection": map[string]any{
				"type": "object", "properties": connectionProps(true), "required": []string{"host"},
			},
			"command:remote:Logging": map[string]any{"type": "string", "enum": enum},
		},
		"resources": map[string]any{
			remoteCommandType: map[string]any{
				"inputProperties": inputs,
				"requiredInputs":  []string{"connection"},
				"properties":      outputs,
				"required":        []string{"connection", "stdout", "stderr"},
			},
		},
	}
}
