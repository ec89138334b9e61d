"""Production targets: compile for Kubeflow Pipelines 2.x and Vertex AI, deploy, Dataflow args.

Everything here imports TFX, kfp or google-cloud-aiplatform inside functions only.
"""
