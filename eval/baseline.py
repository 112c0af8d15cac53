"""The `plain` baseline: the RAG chain most people would build with LangChain instead of docqa.

LangChain's `LlamaCpp` LLM on the same GGUF file and sampling settings, a retriever over the
same index returning the same passages docqa would give its model, and the prompt of
LangChain's RAG tutorial (hub `rlm/rag-prompt`), wired the standard LCEL way:
`{context, question} | prompt | llm | StrOutputParser()`. No grammar, no citations, no
fact-check, no relevance gate: differences from docqa's rows are the guard's doing, not
retrieval's.

The chain's free text is split into sentences for scoring. It counts as an abstention when its
first sentence says the context does not hold the answer — generous to the baseline, since a
reply that starts "I don't know" and then guesses is scored as abstaining.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from eval.qa import Response, split_sentences
from generation.types import AnswerSentence
from retrieval.types import Hit, Retriever

RAG_PROMPT = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved "
    "context to answer the question. If you don't know the answer, just say that you don't "
    "know. Use three sentences maximum and keep the answer concise.\n"
    "Question: {question} \nContext: {context} \nAnswer:"
)

_NO_ANSWER = re.compile(
    r"\b(?:(?:do not|don't|cannot|can't|can not) (?:know|answer|find|determine|say)"
    r"|(?:is|are|was|were) not (?:mentioned|provided|specified|stated|given|included|available)"
    r"|(?:does|do|did) not (?:contain|mention|provide|specify|say|include|state|cover)"
    r"|doesn't (?:contain|mention|provide|specify|say|include|state|cover)"
    r"|no (?:information|mention|answer)|not enough information|unable to)\b",
    re.IGNORECASE,
)


def says_no_answer(text: str) -> bool:
    """True when the reply is empty or its first sentence declines to answer.

    >>> says_no_answer("I don't know. Maybe Paris."), says_no_answer("It is Paris.")
    (True, False)
    >>> says_no_answer("The context does not mention the capital of Australia.")
    True
    """
    sentences = split_sentences(text)
    return not sentences or bool(_NO_ANSWER.search(sentences[0]))


class PlainRAG:
    """`respond(question)` through the LangChain chain; built on first use."""

    name = "plain"

    def __init__(
        self,
        retriever: Retriever,
        model_path: Path,
        *,
        top_k: int = 4,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        temperature: float = 0.0,
        seed: int = 0,
        max_tokens: int = 256,
    ) -> None:
        self._retriever = retriever
        self._top_k = top_k
        self._llm_args: dict[str, Any] = {
            "model_path": str(model_path),
            "n_ctx": n_ctx,
            "n_threads": n_threads,
            "temperature": temperature,
            "seed": seed,
            "max_tokens": max_tokens,
            # LangChain's LlamaCpp evaluates prompts 8 tokens at a time unless told otherwise,
            # about half the speed of llama-cpp-python's own default of 512 that docqa runs
            # with: the baseline should lose on its design, not on a default.
            "n_batch": 512,
            "verbose": False,
        }
        self._chain = None
        self._index_retriever: Any = None

    def _build(self):
        from langchain_community.llms import LlamaCpp
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_core.runnables import RunnablePassthrough

        self._index_retriever = _index_retriever(self._retriever, self._top_k)
        prompt = ChatPromptTemplate.from_messages([("human", RAG_PROMPT)])
        llm = LlamaCpp(**self._llm_args)

        def format_docs(docs) -> str:
            return "\n\n".join(doc.page_content for doc in docs)

        return (
            {"context": self._index_retriever | format_docs, "question": RunnablePassthrough()}
            | prompt
            | llm
            | StrOutputParser()
        )

    def chain(self):
        """The LCEL chain itself, for callers that stream it (the answer benchmark)."""
        if self._chain is None:
            self._chain = self._build()
        return self._chain

    @property
    def last_retrieval(self) -> tuple[list[Hit], float]:
        """The passages the chain's last question retrieved, and the seconds it took."""
        return list(self._index_retriever.last_hits), self._index_retriever.last_seconds

    def respond(self, question: str) -> Response:
        chain = self.chain()
        started = time.perf_counter()
        text = chain.invoke(question).strip()
        total = time.perf_counter() - started
        hits, retrieve = self.last_retrieval
        sentences = tuple(AnswerSentence(s, ()) for s in split_sentences(text))
        abstained = says_no_answer(text)
        return Response(
            text,
            abstained,
            () if abstained else sentences,
            tuple(hits),
            {
                "retrieve_s": retrieve,
                "generate_s": total - retrieve,
                "verify_s": 0.0,
                "total_s": total,
            },
            "the reply says the context does not hold the answer" if abstained else None,
        )


def _index_retriever(retriever: Retriever, k: int):
    """A LangChain retriever over docqa's index that remembers what it returned, and how fast."""
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from pydantic import ConfigDict

    class IndexRetriever(BaseRetriever):
        model_config = ConfigDict(arbitrary_types_allowed=True)
        inner: Any
        k: int
        last_hits: list[Hit] = []
        last_seconds: float = 0.0

        def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
            started = time.perf_counter()
            self.last_hits = self.inner.search(query, self.k)
            self.last_seconds = time.perf_counter() - started
            return [
                Document(
                    page_content=h.passage.text,
                    metadata={
                        "source": h.passage.source,
                        "section": h.passage.section,
                        "page": h.passage.page,
                    },
                )
                for h in self.last_hits
            ]

    return IndexRetriever(inner=retriever, k=k)
