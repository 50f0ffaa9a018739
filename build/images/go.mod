module orchestrator.platform/build/images

go 1.26.0
