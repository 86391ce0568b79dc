module github.com/petrelmq/petrel

go 1.26.8
