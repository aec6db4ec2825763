//! Collections across pages: follow `@odata.nextLink` (an absolute URL, used as is) to the
//! end, re-sending headers such as `ConsistencyLevel` on every page (Graph does not carry
//! them over); or page by page for collections too big to hold.

use crate::error::GraphError;
use crate::http::{GraphClient, Request};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// A bound on pages per listing, so a server that loops its nextLinks cannot trap us.
pub const MAX_PAGES: usize = 100_000;

/// One page of a collection.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    /// The items.
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// The next page, when there is one.
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
    /// The end of a delta round.
    #[serde(rename = "@odata.deltaLink", default)]
    pub delta_link: Option<String>,
    /// `@odata.count` (first page only, with `$count=true`).
    #[serde(rename = "@odata.count", default)]
    pub count: Option<u64>,
}

/// Walks a collection page by page; `next_page` answers `None` after the last.
#[derive(Debug)]
pub struct Pager<T> {
    client: GraphClient,
    next: Option<Request>,
    pages: usize,
    _item: std::marker::PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Pager<T> {
    /// The next page, or `None` when the collection is done.
    pub async fn next_page(&mut self) -> Result<Option<Page<T>>, GraphError> {
        let Some(req) = self.next.take() else {
            return Ok(None);
        };
        self.pages += 1;
        let page: Page<T> = self.client.send_json(req.clone()).await?;
        if let Some(link) = &page.next_link {
            if self.pages >= MAX_PAGES {
                return Err(GraphError::Invalid(format!(
                    "{} kept answering nextLinks after {MAX_PAGES} pages",
                    req.url()
                )));
            }
            self.next = Some(req.with_url(link.clone()));
        }
        Ok(Some(page))
    }
}

impl GraphClient {
    /// A page-by-page walk starting with `req` (its headers go on every page).
    pub fn pages<T: DeserializeOwned>(&self, req: Request) -> Pager<T> {
        Pager {
            client: self.clone(),
            next: Some(req),
            pages: 0,
            _item: std::marker::PhantomData,
        }
    }

    /// Every item of the collection at `url`.
    pub async fn get_all_pages<T: DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<Vec<T>, GraphError> {
        self.get_all(Request::get(url)).await
    }

    /// Every item of an advanced query (`ConsistencyLevel: eventual` on every page).
    pub async fn get_all_pages_eventual<T: DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<Vec<T>, GraphError> {
        self.get_all(Request::get(url).header("ConsistencyLevel", "eventual"))
            .await
    }

    /// Every item of the collection `req` starts.
    pub async fn get_all<T: DeserializeOwned>(&self, req: Request) -> Result<Vec<T>, GraphError> {
        let mut pager = self.pages::<T>(req);
        let mut all = Vec::new();
        while let Some(page) = pager.next_page().await? {
            all.extend(page.value);
        }
        Ok(all)
    }
}
