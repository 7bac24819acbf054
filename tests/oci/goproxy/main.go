// Command goproxy prints the proxy Go's net/http would use for each URL argument,
// under the current environment (http.ProxyFromEnvironment, as go-containerregistry
// and so cosign use it): one line per URL, the proxy URL or DIRECT or ERROR <text>.
// tests/oci/test_proxy.py builds it to check sigstack's rules against Go's.
package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
)

func main() {
	for _, arg := range os.Args[1:] {
		u, err := url.Parse(arg)
		if err != nil {
			fmt.Println("ERROR", err)
			continue
		}
		proxy, err := http.ProxyFromEnvironment(&http.Request{URL: u})
		switch {
		case err != nil:
			fmt.Println("ERROR", err)
		case proxy == nil:
			fmt.Println("DIRECT")
		default:
			fmt.Println(proxy.String())
		}
	}
}
