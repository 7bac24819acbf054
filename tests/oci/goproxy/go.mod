module sigstack.test/goproxy

go 1.22
