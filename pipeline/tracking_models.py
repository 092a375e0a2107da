"""The MLflow pyfunc wrapper of a mitigation candidate (kept apart because it must subclass
``mlflow.pyfunc.PythonModel``; :mod:`pipeline.tracking` is otherwise the only mlflow importer).

The wrapper holds no weights: ``load_context`` rebuilds the
:class:`pipeline.models.postprocessed.PostProcessedNetwork` from the logged artifact folder
(a JSON rule and weights-only tensors), and ``predict`` delegates to it. Input: the encoded
feature columns of ``data/prepared`` (names in ``meta.json``'s ``feature_names``), plus the
sensitive column for a group-threshold candidate. Output: ``decision`` (1 = favourable) and
``score``.
"""

from __future__ import annotations

import mlflow.pyfunc


class CandidateModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        from pipeline.models.postprocessed import PostProcessedNetwork

        self.model = PostProcessedNetwork.load(context.artifacts["candidate"])

    def predict(self, context, model_input, params=None):
        return self.model.predict(model_input)
